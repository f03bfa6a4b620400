"""Speech-to-text replies (spec §7.2).

The emulator cannot recognise speech. It does know every clip its own TTS produced (by sha256), and
transcribes those exactly, so a round trip TTS → STT returns the original text. Any other audio gets
a placeholder sentence, chosen deterministically from the audio hash and clearly marked as emulated.
"""

from __future__ import annotations

import re

from .ids import new_id

PLACEHOLDER_PREFIX = "[emulated transcript]"
_PLACEHOLDERS = (
    "I would like to hear more about that.",
    "That sounds really interesting, tell me more.",
    "Can you explain what you meant a moment ago?",
    "I was thinking about our last conversation.",
    "What would you recommend I try next?",
    "Thanks, that is very helpful.",
    "Could you say that again a little more slowly?",
    "Let us talk about something different today.",
)
_TOKENS = re.compile(r"\S+")


def placeholder_text(audio_sha256: str) -> str:
    return f"{PLACEHOLDER_PREFIX} {_PLACEHOLDERS[int(audio_sha256[:8], 16) % len(_PLACEHOLDERS)]}"


def words_with_timings(text: str, duration_secs: float) -> list[dict]:
    """Word and spacing entries spread over the audio in proportion to word length."""
    tokens = _TOKENS.findall(text)
    if not tokens:
        return []
    start_s, end_s = 0.05, max(duration_secs - 0.05, 0.1 * len(tokens))
    per_char = (end_s - start_s) / sum(len(token) + 1 for token in tokens)
    words: list[dict] = []
    cursor = start_s
    for index, token in enumerate(tokens):
        word_end = cursor + len(token) * per_char
        words.append(
            {"text": token, "start": round(cursor, 3), "end": round(word_end, 3), "type": "word",
             "speaker_id": "speaker_0", "logprob": -0.05}
        )
        if index < len(tokens) - 1:
            words.append(
                {"text": " ", "start": round(word_end, 3), "end": round(word_end + per_char, 3), "type": "spacing",
                 "speaker_id": "speaker_0", "logprob": 0.0}
            )
        cursor = word_end + per_char
    return words


def transcription(text: str, *, duration_secs: float, language_code: str | None) -> dict:
    return {
        "language_code": language_code or "eng",
        "language_probability": 0.98,
        "text": text,
        "words": words_with_timings(text, duration_secs),
        "transcription_id": new_id(),
        "audio_duration_secs": round(duration_secs, 3),
    }
