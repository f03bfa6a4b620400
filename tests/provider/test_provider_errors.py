"""Error mapping and the retry policy, with every fault coming from the emulator (no patched SDK)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.provider.helpers import audio_file, requests_to
from voiceclone import provider

TTS_PATH = r"^/v1/text-to-speech/"
ATTEMPTS = 4  # PROVIDER_MAX_ATTEMPTS default; pinned per test with settings below


@pytest.fixture(autouse=True)
def _pinned_attempts(settings):
    settings.PROVIDER_MAX_ATTEMPTS = ATTEMPTS


@pytest.fixture
def voice_id(emulator_ctl):
    return provider.create_voice(name="Fault target", files=[audio_file()], labels={"language": "en"})


def _retry_records(caplog, operation: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "voiceclone.provider" and getattr(r, "provider_operation", None) == operation
    ]


# --- 429 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error_status", ["too_many_concurrent_requests", "system_busy"])
def test_tts_429_without_retry_after_is_retried_until_it_succeeds(emulator_ctl, voice_id, error_status, caplog):
    emulator_ctl.add_fault(
        path=TTS_PATH, method="POST", status=429, error_status=error_status, retry_after=None, count=2
    )

    with caplog.at_level(logging.WARNING, logger="voiceclone.provider"):
        result = provider.tts(voice_id=voice_id, text="Retry me.")

    assert result.audio
    assert len(requests_to(emulator_ctl, "POST", "/v1/text-to-speech/")) == 3
    retries = _retry_records(caplog, "tts")
    assert [r.provider_error for r in retries] == ["RateLimited", "RateLimited"]


@pytest.mark.parametrize("error_status", ["too_many_concurrent_requests", "system_busy"])
def test_tts_429_with_retry_after_waits_that_long_capped(emulator_ctl, voice_id, error_status, settings, caplog):
    settings.PROVIDER_BACKOFF_MAX_S = 0.3
    emulator_ctl.add_fault(path=TTS_PATH, method="POST", status=429, error_status=error_status, retry_after=7, count=1)

    with caplog.at_level(logging.WARNING, logger="voiceclone.provider"):
        result = provider.tts(voice_id=voice_id, text="Retry me later.")

    assert result.audio
    (retry,) = _retry_records(caplog, "tts")
    assert retry.delay_s == 0.3  # Retry-After 7 s, capped by PROVIDER_BACKOFF_MAX_S


def test_retry_after_below_the_cap_is_honoured_exactly(emulator_ctl, voice_id, settings, caplog):
    settings.PROVIDER_BACKOFF_MAX_S = 5
    emulator_ctl.add_fault(
        path=TTS_PATH, method="POST", status=429, error_status="system_busy", retry_after=1, count=1
    )

    with caplog.at_level(logging.WARNING, logger="voiceclone.provider"):
        provider.tts(voice_id=voice_id, text="Wait one second.")

    (retry,) = _retry_records(caplog, "tts")
    assert retry.delay_s == 1.0


@pytest.mark.parametrize("retry_after", [3, None])
@pytest.mark.parametrize("error_status", ["too_many_concurrent_requests", "system_busy"])
def test_persistent_429_raises_rate_limited_with_retry_after(emulator_ctl, voice_id, error_status, retry_after):
    emulator_ctl.add_fault(
        path=TTS_PATH, method="POST", status=429, error_status=error_status, retry_after=retry_after, count=None
    )

    with pytest.raises(provider.RateLimited) as caught:
        provider.tts(voice_id=voice_id, text="Never.")

    assert caught.value.retry_after == (float(retry_after) if retry_after is not None else None)
    assert caught.value.retryable is True
    assert caught.value.status_code == 429
    assert caught.value.code  # detail.code or detail.status
    assert len(requests_to(emulator_ctl, "POST", "/v1/text-to-speech/")) == ATTEMPTS


# --- 5xx, timeouts, dropped connections --------------------------------------------------------------------


def test_tts_503_is_retried_until_it_succeeds(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=TTS_PATH, method="POST", status=503, count=2)

    result = provider.tts(voice_id=voice_id, text="Third time lucky.")

    assert result.audio
    assert len(requests_to(emulator_ctl, "POST", "/v1/text-to-speech/")) == 3


def test_persistent_503_raises_provider_unavailable_after_all_attempts(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=TTS_PATH, method="POST", status=503, count=None)

    with pytest.raises(provider.ProviderUnavailable) as caught:
        provider.tts(voice_id=voice_id, text="Down.")

    assert caught.value.status_code == 503
    assert caught.value.retryable is True
    assert len(requests_to(emulator_ctl, "POST", "/v1/text-to-speech/")) == ATTEMPTS


def test_plain_text_500_is_retried_then_raises_provider_unavailable(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+$", method="GET", status=500, plain_text=True, count=None)

    with pytest.raises(provider.ProviderUnavailable) as caught:
        provider.get_voice(voice_id=voice_id)

    assert caught.value.status_code == 500
    assert len(requests_to(emulator_ctl, "GET", f"/v1/voices/{voice_id}")) == ATTEMPTS


def test_plain_text_500_once_then_success(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v1/user/subscription$", method="GET", status=500, plain_text=True, count=1)

    assert provider.quota().voice_slots_used == 1
    assert len(requests_to(emulator_ctl, "GET", "/v1/user/subscription")) == 2


def test_timeout_raises_provider_unavailable(emulator_ctl, voice_id, settings):
    settings.ELEVENLABS_TIMEOUT_S = 0.3
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+$", method="GET", mode="timeout", delay_s=2, count=None)

    with pytest.raises(provider.ProviderUnavailable) as caught:
        provider.get_voice(voice_id=voice_id)

    assert "timed out" in caught.value.message
    assert caught.value.status_code is None


def test_tts_timeout_once_is_retried(emulator_ctl, voice_id, settings):
    settings.ELEVENLABS_TIMEOUT_S = 0.3
    emulator_ctl.add_fault(path=TTS_PATH, method="POST", mode="timeout", delay_s=2, count=1)

    assert provider.tts(voice_id=voice_id, text="Slow, then fine.").audio


def test_dropped_connection_raises_provider_unavailable(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=TTS_PATH, method="POST", mode="drop", count=None)

    with pytest.raises(provider.ProviderUnavailable) as caught:
        provider.tts(voice_id=voice_id, text="Dropped.")

    assert caught.value.request_sent is True
    assert len(requests_to(emulator_ctl, "POST", "/v1/text-to-speech/")) == ATTEMPTS


def test_dropped_connection_once_then_success(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v2/voices", method="GET", mode="drop", count=1)

    assert [v.voice_id for v in provider.list_voices()] == [voice_id]


def test_latency_below_the_timeout_is_not_an_error(emulator_ctl, voice_id, settings):
    settings.ELEVENLABS_TIMEOUT_S = 5
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+$", method="GET", mode="latency", delay_s=0.2, count=1)

    assert provider.get_voice(voice_id=voice_id).voice_id == voice_id


def test_unreachable_provider_raises_provider_unavailable_not_sent(emulator_ctl, settings, caplog):
    settings.ELEVENLABS_BASE_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connection refused

    with caplog.at_level(logging.WARNING, logger="voiceclone.provider"):
        with pytest.raises(provider.ProviderUnavailable) as caught:
            provider.quota()

    assert caught.value.request_sent is False
    assert len(_retry_records(caplog, "quota")) == ATTEMPTS - 1


# --- create/add_samples must not be repeated after they may have been applied ------------------------------


def test_create_voice_503_is_not_retried(emulator_ctl):
    emulator_ctl.add_fault(path=r"^/v1/voices/add$", method="POST", status=503, count=1)

    with pytest.raises(provider.ProviderUnavailable) as caught:
        provider.create_voice(name="Once only", files=[audio_file()])

    assert caught.value.request_sent is True
    assert len(requests_to(emulator_ctl, "POST", "/v1/voices/add")) == 1


@pytest.mark.parametrize("fault", [{"mode": "drop"}, {"mode": "timeout", "delay_s": 2}])
def test_create_voice_dropped_or_timed_out_is_not_retried(emulator_ctl, settings, fault):
    settings.ELEVENLABS_TIMEOUT_S = 0.5
    emulator_ctl.add_fault(path=r"^/v1/voices/add$", method="POST", count=1, **fault)

    with pytest.raises(provider.ProviderUnavailable):
        provider.create_voice(name="Once only", files=[audio_file()])

    assert len(requests_to(emulator_ctl, "POST", "/v1/voices/add")) == 1


def test_create_voice_429_is_retried_with_all_form_fields(emulator_ctl):
    emulator_ctl.add_fault(
        path=r"^/v1/voices/add$", method="POST", status=429, error_status="system_busy", retry_after=None, count=1
    )
    files = [audio_file("one.wav", freq_hz=200), audio_file("two.wav", freq_hz=400)]

    voice_id = provider.create_voice(
        name="Retried", files=files, description="after a 429", labels={"language": "en", "vc_voice": "abc"}
    )

    records = requests_to(emulator_ctl, "POST", "/v1/voices/add")
    assert len(records) == 2
    for record in records:
        assert record["fields"]["name"] == "Retried"
        assert record["fields"]["description"] == "after a 429"
        assert json.loads(record["fields"]["labels"]) == {"language": "en", "vc_voice": "abc"}
        assert len(record["files"]) == 2
    assert emulator_ctl.voice_ids() == [voice_id]


def test_create_voice_connect_error_is_retried(emulator_ctl, settings, caplog):
    settings.ELEVENLABS_BASE_URL = "http://127.0.0.1:9"

    with caplog.at_level(logging.WARNING, logger="voiceclone.provider"):
        with pytest.raises(provider.ProviderUnavailable) as caught:
            provider.create_voice(name="Nobody home", files=[audio_file()])

    assert caught.value.request_sent is False
    assert len(_retry_records(caplog, "create_voice")) == ATTEMPTS - 1


def test_add_samples_503_on_edit_is_not_retried(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+/edit$", method="POST", status=503, count=1)

    with pytest.raises(provider.ProviderUnavailable):
        provider.add_samples(voice_id=voice_id, name="Fault target", files=[audio_file("new.wav")])

    assert len(requests_to(emulator_ctl, "POST", f"/v1/voices/{voice_id}/edit")) == 1


def test_add_samples_429_on_edit_is_retried_with_its_fields(emulator_ctl, voice_id):
    emulator_ctl.add_fault(
        path=r"^/v1/voices/[^/]+/edit$",
        method="POST",
        status=429,
        error_status="too_many_concurrent_requests",
        count=1,
    )

    new_ids = provider.add_samples(voice_id=voice_id, name="Fault target", files=[audio_file("new.wav")])

    assert len(new_ids) == 1
    edits = requests_to(emulator_ctl, "POST", f"/v1/voices/{voice_id}/edit")
    assert len(edits) == 2
    assert all(e["fields"]["name"] == "Fault target" and len(e["files"]) == 1 for e in edits)


def test_delete_voice_503_is_retried(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+$", method="DELETE", status=503, count=1)

    provider.delete_voice(voice_id=voice_id)

    assert voice_id not in emulator_ctl.voice_ids()


# --- 404, 401, 422, quota ----------------------------------------------------------------------------------

MISSING = "doesNotExist00000000"


def test_get_voice_unknown_id_raises_voice_not_found(emulator_ctl):
    with pytest.raises(provider.VoiceNotFound) as caught:
        provider.get_voice(voice_id=MISSING)
    assert caught.value.retryable is False
    assert caught.value.code == "voice_not_found"
    assert len(requests_to(emulator_ctl, "GET", f"/v1/voices/{MISSING}")) == 1


def test_tts_unknown_voice_raises_voice_not_found(emulator_ctl):
    with pytest.raises(provider.VoiceNotFound):
        provider.tts(voice_id=MISSING, text="Hello?")


def test_tts_stream_unknown_voice_raises_voice_not_found(emulator_ctl):
    with pytest.raises(provider.VoiceNotFound):
        with provider.tts_stream(voice_id=MISSING, text="Hello?") as stream:
            list(stream)


def test_delete_unknown_voice_raises_voice_not_found(emulator_ctl):
    with pytest.raises(provider.VoiceNotFound):
        provider.delete_voice(voice_id=MISSING)


def test_add_samples_to_unknown_voice_raises_voice_not_found(emulator_ctl):
    with pytest.raises(provider.VoiceNotFound):
        provider.add_samples(voice_id=MISSING, name="x", files=[audio_file()])


def test_empty_api_key_raises_auth_failed(emulator_ctl, settings):
    settings.ELEVENLABS_API_KEY = ""

    with pytest.raises(provider.AuthFailed) as caught:
        provider.quota()

    assert caught.value.status_code == 401
    assert caught.value.retryable is False
    assert len(requests_to(emulator_ctl, "GET", "/v1/user/subscription")) == 1


def test_tts_with_empty_text_raises_invalid_request(emulator_ctl, voice_id):
    with pytest.raises(provider.InvalidRequest) as caught:
        provider.tts(voice_id=voice_id, text="")
    assert caught.value.status_code == 400
    assert "text" in caught.value.message
    assert len(requests_to(emulator_ctl, "POST", "/v1/text-to-speech/")) == 1  # not retried


def test_stt_with_empty_model_raises_invalid_request(emulator_ctl, settings):
    settings.ELEVENLABS_STT_MODEL = ""

    with pytest.raises(provider.InvalidRequest) as caught:
        provider.stt(audio=audio_file().content, filename="a.wav", content_type="audio/wav")

    assert caught.value.status_code == 422
    assert len(requests_to(emulator_ctl, "POST", "/v1/speech-to-text")) == 1


def test_tts_over_the_model_character_limit_raises_invalid_request(emulator_ctl, voice_id):
    with pytest.raises(provider.InvalidRequest) as caught:
        provider.tts(voice_id=voice_id, text="a" * 10_001)
    assert caught.value.code == "max_character_limit_exceeded"


def test_character_quota_exhausted_raises_quota_exceeded(emulator_ctl):
    emulator_ctl.reset(voice_limit=30, character_limit=50)
    voice = provider.create_voice(name="Quota", files=[audio_file()])
    provider.tts(voice_id=voice, text="x" * 40)

    with pytest.raises(provider.QuotaExceeded) as caught:
        provider.tts(voice_id=voice, text="y" * 20)

    assert not isinstance(caught.value, provider.AuthFailed)
    assert caught.value.status_code == 401
    assert caught.value.retryable is False
    assert "quota" in caught.value.message


# --- less common statuses ----------------------------------------------------------------------------------


def test_legacy_400_voice_does_not_exist_raises_voice_not_found(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=TTS_PATH, method="POST", status=400, error_status="voice_does_not_exist", count=1)

    with pytest.raises(provider.VoiceNotFound) as caught:
        provider.tts(voice_id=voice_id, text="Old API.")

    assert caught.value.status_code == 400
    assert caught.value.code == "voice_does_not_exist"


def test_408_is_retried_like_a_server_error(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+$", method="GET", status=408, count=1)

    assert provider.get_voice(voice_id=voice_id).voice_id == voice_id
    assert len(requests_to(emulator_ctl, "GET", f"/v1/voices/{voice_id}")) == 2


def test_403_raises_auth_failed(emulator_ctl):
    emulator_ctl.add_fault(
        path=r"^/v1/user/subscription$", method="GET", status=403, error_status="missing_permissions"
    )

    with pytest.raises(provider.AuthFailed) as caught:
        provider.quota()

    assert caught.value.status_code == 403
    assert caught.value.code == "missing_permissions"


def test_unknown_status_raises_plain_provider_error_without_retry(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"^/v1/voices/[^/]+$", method="GET", status=409, count=None)

    with pytest.raises(provider.ProviderError) as caught:
        provider.get_voice(voice_id=voice_id)

    assert type(caught.value) is provider.ProviderError
    assert caught.value.status_code == 409
    assert caught.value.retryable is False
    assert len(requests_to(emulator_ctl, "GET", f"/v1/voices/{voice_id}")) == 1


def test_tts_stream_is_retried_before_the_first_chunk(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"/stream$", method="POST", status=503, count=1)
    emulator_ctl.add_fault(path=r"/stream$", method="POST", status=429, error_status="system_busy", count=1)

    with provider.tts_stream(voice_id=voice_id, text="Eventually streamed.") as stream:
        audio = b"".join(stream)

    assert audio
    assert len(requests_to(emulator_ctl, "POST", f"/v1/text-to-speech/{voice_id}/stream")) == 3


def test_tts_stream_persistent_429_raises_rate_limited(emulator_ctl, voice_id):
    emulator_ctl.add_fault(path=r"/stream$", method="POST", status=429, retry_after=2, count=None)

    with pytest.raises(provider.RateLimited) as caught:
        with provider.tts_stream(voice_id=voice_id, text="Never streamed.") as stream:
            list(stream)

    assert caught.value.retry_after == 2.0
    assert len(requests_to(emulator_ctl, "POST", f"/v1/text-to-speech/{voice_id}/stream")) == ATTEMPTS


def test_tts_stream_quota_exceeded(emulator_ctl):
    emulator_ctl.reset(voice_limit=30, character_limit=10)
    voice = provider.create_voice(name="Quota", files=[audio_file()])

    with pytest.raises(provider.QuotaExceeded):
        with provider.tts_stream(voice_id=voice, text="More than ten characters.") as stream:
            list(stream)


def test_settings_changes_rebuild_the_client(emulator_ctl, settings):
    assert provider.quota().voice_limit == 30
    settings.ELEVENLABS_API_KEY = ""
    with pytest.raises(provider.AuthFailed):
        provider.quota()
    settings.ELEVENLABS_API_KEY = "another-key"
    assert provider.quota().voice_limit == 30


def test_base_url_with_v1_suffix_is_refused(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.ELEVENLABS_BASE_URL = "http://127.0.0.1:8765/v1"
    with pytest.raises(ImproperlyConfigured):
        provider.quota()
