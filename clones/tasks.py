"""django-q2 entry points for clones: load by id, call one service."""

from . import services


def voice_provider_create(voice_id) -> None:
    services.voice_provider_create(voice_id=voice_id)


def clip_analyse(clip_id: int) -> None:
    services.clip_analyse(clip_id=clip_id)


def voices_creating_sweep() -> int:
    return services.voices_creating_sweep()


def consent_recording_check(consent_id: int) -> None:
    services.consent_recording_check(consent_id=consent_id)


def voice_audio_purge(voice_id) -> None:
    services.voice_audio_purge(voice_id=voice_id)
