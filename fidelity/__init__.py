"""Clone fidelity: how much a voice still sounds like its speaker, and which audio is our own.

- `fidelity.similarity`: `speaker_similarity(audio, references) -> SimilarityResult` (0–1 score + features).
- `fidelity.features`: the Praat-measured voice features behind it (`voice_features`).
- `fidelity.prosody`: pitch, energy and speaking-rate statistics of a clip (`measure_prosody`).
- `fidelity.wer`: speech-to-text round-trip word error rate (`transcript_wer`).
- `fidelity.fingerprint`: spectral-peak landmarks; `fidelity.services.audio_fingerprint_store` keeps them
  for every generated clip, `fidelity.selectors.generated_audio_match` finds an upload among them.

See docs/fidelity.md.
"""
