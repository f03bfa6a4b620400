"""Voices with a history, for the gate's acceptance tests: a "human" speaker, its clone, and clones of
clones trained only on the previous generation's replies (the degradation the gate must catch).

The speaker's recordings come from the emulator's own synthesiser called directly (not through its API),
so the emulator does not recognise them as its renders and measures them like any human upload: a speaker
it can clone closely (docs/emulator.md, "Timbre"). Everything else goes over HTTP through the adapter.
"""

from __future__ import annotations

import io
import itertools

import soundfile as sf
from django.utils import timezone

from clones.analysis import encode_mp3, training_copy
from clones.audio import decode_audio
from clones.models import ClipSample, Voice, VoiceVersion
from tests.factories import ClipSampleFactory, ConversationFactory, UserFactory, VoiceFactory
from voiceclone import provider
from voiceclone.emulator.audio import SAMPLE_RATE, synthesize
from voiceclone.emulator.timbre import Timbre

APPROVED = ClipSample.ReviewStatus.APPROVED

HUMAN_SENTENCES = (
    "My grandmother kept a garden full of roses, beans and tall sunflowers.",
    "Nobody expected the meeting to last until half past seven in the evening.",
    "We baked forty loaves of bread before the sun came up this morning.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
)

# Three different speakers, so "every time" means every voice, not one lucky timbre.
SPEAKERS = {
    "low": Timbre(median_pitch_hz=110.0, pitch_range_st=4.0, formant_scale=0.95, spectral_tilt_db=-15.0,
                  breathiness=0.10),
    "mid": Timbre(median_pitch_hz=160.0, pitch_range_st=5.0, formant_scale=1.05, spectral_tilt_db=-13.0,
                  breathiness=0.08),
    "high": Timbre(median_pitch_hz=215.0, pitch_range_st=6.0, formant_scale=1.15, spectral_tilt_db=-12.0,
                   breathiness=0.12),
}


def human_recordings(timbre: Timbre) -> list[bytes]:
    """WAV recordings of a speaker with this timbre (four sentences, about 4–5 s each)."""
    files = []
    for text in HUMAN_SENTENCES:
        buffer = io.BytesIO()
        sf.write(buffer, synthesize(text, timbre), SAMPLE_RATE, format="WAV", subtype="PCM_16")
        files.append(buffer.getvalue())
    return files


def clone(name: str, files: list[bytes], extension: str = "wav") -> str:
    content_type = "audio/wav" if extension == "wav" else "audio/mpeg"
    return provider.create_voice(
        name=name, files=[provider.AudioFile(f"{name}-{i}.{extension}", data, content_type)
                          for i, data in enumerate(files)],
    )


REPLY_TEXTS = (
    "Thank you for asking, today we baked rye, spelt and a few sourdough loaves.",
    "The harbour was quiet this morning, only two fishing boats went out.",
    "I think you would enjoy the lemon cake, it is sharp and not too sweet.",
    "Could we talk about your trip to Scotland? I have always wanted to go.",
    "Honestly, the oven broke twice last winter and we still opened every day.",
    "My brother repairs old bicycles in a shed behind his house.",
    "When it snows, the whole street smells of cinnamon and wood smoke.",
    "Seven customers asked for gluten free bread yesterday, a record.",
    "Do you remember the name of that song from the radio last night?",
    "We should plant tomatoes in April, after the last frost has passed.",
    "A good starter needs flour, water, patience and a warm kitchen.",
    "The library closes at six, so I usually read on the bus home.",
    "Her paintings of the moors hang in a small gallery in York.",
    "If the train is late again, we can walk along the canal instead.",
    "Nothing beats a cup of strong tea after a long shift at the ovens.",
    "The children built a kite from newspaper and it actually flew.",
)
_reply_index = itertools.count()


def reply_text() -> str:
    """Distinct sentences (the selection drops near-duplicate texts), cycling with a number if needed."""
    n = next(_reply_index)
    text = REPLY_TEXTS[n % len(REPLY_TEXTS)]
    return text if n < len(REPLY_TEXTS) else f"{text[:-1]}, for the {n}th time."


def replies(provider_voice_id: str, count: int) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(count):
        text = reply_text()
        out.append((text, provider.tts(voice_id=provider_voice_id, text=text).audio))
    return out


def next_generation(provider_voice_id: str, name: str) -> str:
    """A clone of nothing but this voice's replies, as the old retrain did (training copies, MP3)."""
    copies = []
    for _, audio in replies(provider_voice_id, 3):
        samples, rate = decode_audio(audio)
        trimmed, _ = training_copy(samples, rate)
        copies.append(encode_mp3(trimmed, rate))
    return clone(name, copies, extension="mp3")


def voice_of_speaker(timbre: Timbre, *, name: str = "Sam", owner=None) -> Voice:
    """A ready voice cloned from the speaker's recordings (version 1), which are its originals."""
    recordings = human_recordings(timbre)
    voice = VoiceFactory(owner=owner or UserFactory(), name=name, with_version=False)
    version = VoiceVersion.objects.create(voice=voice, number=1, provider_voice_id=clone(name, recordings),
                                          state=VoiceVersion.State.ACTIVE)
    voice.current_version = version
    voice.save(update_fields=["current_version"])
    for i, data in enumerate(recordings):
        samples, rate = decode_audio(data)
        ClipSampleFactory(voice=voice, source=ClipSample.Source.ORIGINAL, review_status=APPROVED, text="",
                          audio=data, content_type="audio/wav", duration_s=round(samples.size / rate, 2),
                          sample_rate=rate, original_filename=f"original{i}.wav")
    return voice


def store_generated(voice: Voice, version: VoiceVersion, spoken: list[tuple[str, bytes]], *, lineage_depth: int
                    ) -> list[ClipSample]:
    """Approved stored replies of `version`, one conversation each (what a retrain may select)."""
    clips = []
    for text, audio in spoken:
        samples, rate = decode_audio(audio)
        conversation = ConversationFactory(voice=voice, user=voice.owner)
        clips.append(ClipSampleFactory(
            voice=voice, version=version, text=text, audio=audio, conversation=conversation, review_status=APPROVED,
            lineage_depth=lineage_depth, duration_s=round(samples.size / rate, 2), sample_rate=rate,
        ))
    ClipSample.objects.filter(pk__in=[c.pk for c in clips]).update(created_at=timezone.now())
    return clips


def deep_lineage_history(voice: Voice, *, generations: int = 3) -> VoiceVersion:
    """Versions 2..generations+1 (archived): each cloned only from the previous one's replies, as retraining
    did before voiceclone curated it. Returns the deepest; its replies have lineage depth `generations` + 1."""
    source = voice.current_version.provider_voice_id
    version = None
    for generation in range(1, generations + 1):
        source = next_generation(source, f"{voice.name} generation {generation}")
        version = VoiceVersion.objects.create(
            voice=voice, number=generation + 1, provider_voice_id=source, state=VoiceVersion.State.ARCHIVED,
            archived_at=timezone.now(), training_lineage_depth=generation,
        )
    return version
