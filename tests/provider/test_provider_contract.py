"""Contract tests: the real `elevenlabs` SDK, driven through voiceclone.provider, against the emulator.

Happy paths of every gateway function. Error mapping and retries are in test_provider_errors.py.
"""

from __future__ import annotations

import io
import json

import pytest
import soundfile as sf

from tests.provider.helpers import audio_file, decoded_duration_s, requests_to, sha256
from voiceclone import provider

VOICE_LIMIT_MESSAGE = "You have reached your maximum amount of custom voices (30 / 30)"


def _labels_field(record: dict) -> dict | None:
    raw = record["fields"].get("labels")
    return json.loads(raw) if raw is not None else None


def test_create_voice_returns_an_id_that_get_voice_reads_back(emulator_ctl):
    files = [audio_file("alice_01.wav", freq_hz=200), audio_file("alice_02.wav", freq_hz=300)]

    voice_id = provider.create_voice(
        name="Alice (clone)", files=files, description="Test clone", labels={"language": "en", "app": "voiceclone"}
    )

    voice = provider.get_voice(voice_id=voice_id)
    assert voice.voice_id == voice_id
    assert voice.name == "Alice (clone)"
    assert voice.category == "cloned"
    assert voice.description == "Test clone"
    assert voice.labels == {"language": "en", "app": "voiceclone"}
    assert [s.file_name for s in voice.samples] == ["alice_01.wav", "alice_02.wav"]
    assert all(s.sample_id for s in voice.samples)
    assert isinstance(voice.created_at_unix, int)
    assert voice_id in emulator_ctl.voice_ids()


def test_create_voice_sends_name_labels_and_every_file(emulator_ctl):
    files = [audio_file("a.wav", freq_hz=180), audio_file("b.wav", freq_hz=240)]

    provider.create_voice(name="Bob", files=files, labels={"language": "de"})

    (record,) = requests_to(emulator_ctl, "POST", "/v1/voices/add")
    assert record["fields"]["name"] == "Bob"
    assert _labels_field(record) == {"language": "de"}
    assert sorted(f["sha256"] for f in record["files"]) == sorted(sha256(f.content) for f in files)


def test_thirty_voices_fit_and_the_thirty_first_hits_the_voice_limit(emulator_ctl):
    emulator_ctl.reset(voice_limit=30)
    sample = [audio_file()]
    for number in range(30):
        provider.create_voice(name=f"Voice {number}", files=sample)

    with pytest.raises(provider.VoiceLimitReached) as caught:
        provider.create_voice(name="Voice 31", files=sample)

    assert VOICE_LIMIT_MESSAGE in str(caught.value)
    assert VOICE_LIMIT_MESSAGE in caught.value.message
    assert caught.value.status_code == 400
    assert caught.value.retryable is False
    # Not retried: 30 successful creates plus exactly one refused one.
    assert len(requests_to(emulator_ctl, "POST", "/v1/voices/add")) == 31
    quota = provider.quota()
    assert (quota.voice_slots_used, quota.voice_limit, quota.slots_free) == (30, 30, 0)


def test_delete_voice_frees_its_slot_and_the_voice_is_gone(emulator_ctl):
    voice_id = provider.create_voice(name="Temp", files=[audio_file()])
    assert provider.quota().voice_slots_used == 1

    provider.delete_voice(voice_id=voice_id)

    assert provider.quota().voice_slots_used == 0
    assert voice_id not in emulator_ctl.voice_ids()
    with pytest.raises(provider.VoiceNotFound):
        provider.get_voice(voice_id=voice_id)


def test_add_samples_keeps_the_voice_id_and_returns_only_the_new_sample_ids(emulator_ctl):
    voice_id = provider.create_voice(name="Carol", files=[audio_file("orig.wav")], labels={"language": "en"})
    original_ids = {s.sample_id for s in provider.get_voice(voice_id=voice_id).samples}

    new_ids = provider.add_samples(
        voice_id=voice_id,
        name="Carol",
        files=[audio_file("gen_1.wav", freq_hz=260), audio_file("gen_2.wav", freq_hz=310)],
    )

    voice = provider.get_voice(voice_id=voice_id)
    assert len(new_ids) == 2
    assert not set(new_ids) & original_ids
    assert {s.sample_id for s in voice.samples} == original_ids | set(new_ids)
    assert {s.file_name for s in voice.samples if s.sample_id in new_ids} == {"gen_1.wav", "gen_2.wav"}
    assert voice.labels == {"language": "en"}  # labels=None keeps the current ones
    assert emulator_ctl.voice_ids() == [voice_id]
    (edit,) = requests_to(emulator_ctl, "POST", f"/v1/voices/{voice_id}/edit")
    assert edit["fields"]["name"] == "Carol"


def test_list_voices_follows_pages_and_returns_every_voice_once(emulator_ctl):
    emulator_ctl.reset(voice_limit=150)
    sample = [audio_file()]
    created = {provider.create_voice(name=f"Paged {n}", files=sample) for n in range(120)}

    listed = [v.voice_id for v in provider.list_voices(page_size=50)]

    assert sorted(listed) == sorted(created)
    assert len(requests_to(emulator_ctl, "GET", "/v2/voices")) >= 3


def test_list_voices_filters_by_search_term(emulator_ctl):
    wanted = provider.create_voice(name="Needle voice", files=[audio_file()], labels={"vc_version": "v7"})
    provider.create_voice(name="Haystack voice", files=[audio_file()])

    found = list(provider.list_voices(search="Needle"))

    assert [v.voice_id for v in found] == [wanted]
    assert found[0].category == "cloned"


def test_quota_reads_the_subscription(emulator_ctl):
    provider.create_voice(name="One", files=[audio_file()])
    provider.create_voice(name="Two", files=[audio_file()])

    quota = provider.quota()

    assert quota.voice_limit == 30
    assert quota.voice_slots_used == 2
    assert quota.slots_free == 28
    assert quota.character_limit > 0
    assert quota.character_count >= 0
    assert quota.tier


def test_tts_returns_decodable_mp3_whose_length_follows_the_text(emulator_ctl):
    voice_id = provider.create_voice(name="Speaker", files=[audio_file()])
    short_text = "Hello there, friend."  # 20 characters
    long_text = ("This sentence is much longer than the short one and keeps going for a while. " * 3)[:200]
    assert len(short_text) == 20 and len(long_text) == 200

    short = provider.tts(voice_id=voice_id, text=short_text)
    long = provider.tts(voice_id=voice_id, text=long_text)

    assert short.content_type == "audio/mpeg"
    assert decoded_duration_s(long.audio) > decoded_duration_s(short.audio) > 0
    info = sf.info(io.BytesIO(long.audio))
    assert info.format == "MP3"


def test_tts_reads_request_id_and_character_cost_from_the_headers(emulator_ctl):
    voice_id = provider.create_voice(name="Speaker", files=[audio_file()])
    before = provider.quota().character_count
    text = "Count these characters, please."

    result = provider.tts(voice_id=voice_id, text=text)

    assert result.request_id
    assert result.character_cost == len(text)
    assert provider.quota().character_count == before + result.character_cost
    other = provider.tts(voice_id=voice_id, text=text)
    assert other.request_id != result.request_id


def test_tts_sends_the_configured_model_and_output_format(emulator_ctl, settings):
    settings.ELEVENLABS_TTS_MODEL = "eleven_flash_v2_5"
    settings.ELEVENLABS_TTS_OUTPUT_FORMAT = "mp3_22050_32"
    voice_id = provider.create_voice(name="Speaker", files=[audio_file()])

    provider.tts(voice_id=voice_id, text="Configured model.")

    (record,) = requests_to(emulator_ctl, "POST", f"/v1/text-to-speech/{voice_id}")
    assert record["json"]["model_id"] == "eleven_flash_v2_5"
    assert record["query"]["output_format"] == "mp3_22050_32"


def test_tts_stream_yields_several_chunks_of_one_mp3(emulator_ctl):
    voice_id = provider.create_voice(name="Streamer", files=[audio_file()])
    text = "Streaming audio arrives in pieces, one chunk after another, until the sentence is done."

    with provider.tts_stream(voice_id=voice_id, text=text) as stream:
        request_id, cost, content_type = stream.request_id, stream.character_cost, stream.content_type
        chunks = list(stream)

    assert len(chunks) > 1
    assert all(chunks)
    assert request_id
    assert cost == len(text)
    assert content_type == "audio/mpeg"
    assert decoded_duration_s(b"".join(chunks)) > 0
    assert len(requests_to(emulator_ctl, "POST", f"/v1/text-to-speech/{voice_id}/stream")) == 1


def test_stt_transcribes_emulator_produced_speech(emulator_ctl):
    voice_id = provider.create_voice(name="Speaker", files=[audio_file()])
    text = "The quick brown fox jumps over the lazy dog."
    spoken = provider.tts(voice_id=voice_id, text=text)

    result = provider.stt(audio=spoken.audio, filename="reply.mp3", content_type="audio/mpeg")

    assert result.text == text
    assert result.duration_s and result.duration_s > 0
    (record,) = requests_to(emulator_ctl, "POST", "/v1/speech-to-text")
    assert record["fields"]["model_id"] == "scribe_v1"
    assert [f["sha256"] for f in record["files"]] == [sha256(spoken.audio)]
