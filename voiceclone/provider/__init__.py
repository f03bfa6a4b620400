"""ElevenLabs adapter: the only place that imports the ``elevenlabs`` SDK.

Usage: ``from voiceclone import provider; provider.tts(voice_id=..., text=...)``. Every function raises only
:class:`ProviderError` subclasses; see ``gateway.py`` for the contract of each and ``retry.py`` for the policy.
"""

from .errors import (
    AuthFailed,
    InvalidRequest,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
    VoiceLimitReached,
    VoiceNotFound,
)
from .gateway import (
    AudioFile,
    ProviderSample,
    ProviderVoice,
    Quota,
    STTResult,
    TTSResult,
    TTSStream,
    add_samples,
    create_voice,
    delete_voice,
    get_voice,
    list_voices,
    voices_marked,
    quota,
    sample_audio,
    stt,
    tts,
    tts_stream,
)

__all__ = [
    "AudioFile",
    "AuthFailed",
    "InvalidRequest",
    "ProviderError",
    "ProviderSample",
    "ProviderUnavailable",
    "ProviderVoice",
    "Quota",
    "QuotaExceeded",
    "RateLimited",
    "STTResult",
    "TTSResult",
    "TTSStream",
    "VoiceLimitReached",
    "VoiceNotFound",
    "add_samples",
    "create_voice",
    "delete_voice",
    "get_voice",
    "list_voices",
    "voices_marked",
    "quota",
    "sample_audio",
    "stt",
    "tts",
    "tts_stream",
]
