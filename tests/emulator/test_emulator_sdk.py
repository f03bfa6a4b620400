"""The real `elevenlabs` SDK (2.78.0) against the emulator: every call in the spec's endpoint table.

Passing here is the proof that the emulator speaks the API the way the SDK expects it (paths, query
strings, multipart fields, JSON shapes, streaming and error bodies).
"""

import io

import pytest
import soundfile as sf
from elevenlabs import UnprocessableEntityError
from elevenlabs.client import ElevenLabs
from elevenlabs.core import ApiError

NO_RETRY = {"max_retries": 0}


@pytest.fixture
def client(emulator_server) -> ElevenLabs:
    return ElevenLabs(api_key="test", base_url=emulator_server.url, timeout=30)


@pytest.fixture
def voice_id(client, tone) -> str:
    created = client.voices.ivc.create(
        name="Alice", files=[("alice_01.mp3", tone(1.0), "audio/mpeg")], request_options=NO_RETRY
    )
    return created.voice_id


def test_ivc_create_with_several_files_labels_and_description(client, emulator_control, tone):
    first, second = tone(1.0), tone(2.0, frequency_hz=330)

    created = client.voices.ivc.create(
        name="Alice",
        files=[("alice_01.mp3", first, "audio/mpeg"), ("alice_02.mp3", second, "audio/mpeg"), first],
        description="Test clone",
        labels={"language": "en"},
        remove_background_noise=False,
        request_options=NO_RETRY,
    )

    assert len(created.voice_id) == 20
    assert created.requires_verification is False
    (request,) = emulator_control.requests(path="/v1/voices/add")
    assert [f["filename"] for f in request["files"]] == ["alice_01.mp3", "alice_02.mp3", "upload"]
    assert request["fields"]["labels"] == '{"language": "en"}'
    voice = client.voices.get(created.voice_id)
    assert voice.category == "cloned"
    assert voice.labels == {"language": "en"}
    assert voice.description == "Test clone"
    assert [s.file_name for s in voice.samples] == ["alice_01.mp3", "alice_02.mp3", "upload"]
    assert voice.samples[1].duration_secs == pytest.approx(2.0, abs=0.1)


def test_voices_update_with_files_keeps_the_id_and_adds_samples(client, voice_id, tone):
    result = client.voices.update(
        voice_id, name="Alice v2", files=[("gen_1.mp3", tone(1.0, frequency_hz=260), "audio/mpeg")],
        request_options=NO_RETRY,
    )

    assert result.status == "ok"
    voice = client.voices.get(voice_id)
    assert voice.name == "Alice v2"
    assert [s.file_name for s in voice.samples] == ["alice_01.mp3", "gen_1.mp3"]


def test_voices_update_without_files(client, voice_id):
    assert client.voices.update(voice_id, name="Renamed", description="new", request_options=NO_RETRY).status == "ok"
    assert client.voices.get(voice_id).description == "new"


def test_sample_audio_get_and_samples_delete(client, voice_id, tone):
    client.voices.update(voice_id, name="Alice", files=[("b.mp3", tone(0.5), "audio/mpeg")], request_options=NO_RETRY)
    first, second = client.voices.get(voice_id).samples

    audio = b"".join(client.voices.samples.audio.get(voice_id, second.sample_id))
    result = client.samples.delete(voice_id, first.sample_id)

    assert sf.info(io.BytesIO(audio)).duration == pytest.approx(0.5, abs=0.1)
    assert result.status == "ok"
    assert [s.sample_id for s in client.voices.get(voice_id).samples] == [second.sample_id]


def test_get_all_lists_premade_and_cloned_voices(client, voice_id):
    voices = client.voices.get_all().voices

    assert voice_id in {v.voice_id for v in voices}
    assert {v.category for v in voices} == {"premade", "cloned"}


def test_search_pages_through_cloned_voices(client, tone):
    created = {
        client.voices.ivc.create(name=f"voice {i}", files=[tone(0.2)], request_options=NO_RETRY).voice_id
        for i in range(7)
    }

    seen, token, pages = [], None, 0
    while True:
        page = client.voices.search(
            category="cloned", page_size=3, voice_type="personal", include_total_count=True, next_page_token=token
        )
        pages += 1
        seen += [v.voice_id for v in page.voices]
        assert page.total_count == 7
        if not page.has_more:
            break
        token = page.next_page_token

    assert pages == 3
    assert sorted(seen) == sorted(created)


def test_voices_delete_frees_a_slot(client, voice_id):
    assert client.user.subscription.get().voice_slots_used == 1

    assert client.voices.delete(voice_id).status == "ok"

    assert client.user.subscription.get().voice_slots_used == 0
    with pytest.raises(ApiError) as caught:
        client.voices.get(voice_id)
    assert caught.value.status_code == 404
    assert caught.value.body["detail"]["code"] == "voice_not_found"


def test_subscription_and_user(client, voice_id):
    subscription = client.user.subscription.get()
    user = client.user.get()

    assert (subscription.voice_limit, subscription.voice_slots_used) == (30, 1)
    assert subscription.character_limit == 1_000_000
    assert subscription.status == "active"
    assert user.subscription.voice_slots_used == 1
    assert user.seat_type == "workspace_admin"


def test_tts_convert_returns_mp3_and_counts_characters(client, voice_id):
    text = "Hello from the emulator."

    audio = b"".join(client.text_to_speech.convert(voice_id, text=text, model_id="eleven_multilingual_v2"))

    assert sf.info(io.BytesIO(audio)).format == "MP3"
    assert client.user.subscription.get().character_count == len(text)


def test_tts_raw_response_exposes_request_id_and_character_cost(client, voice_id):
    with client.text_to_speech.with_raw_response.convert(
        voice_id, text="Hi there", model_id="eleven_multilingual_v2", output_format="mp3_44100_128"
    ) as response:
        request_id = response.headers.get("request-id")
        cost = response.headers.get("character-cost")
        audio = b"".join(response.data)

    assert len(request_id) == 20
    assert cost == "8"
    assert len(audio) > 1000


def test_tts_stream_yields_speech_of_the_same_text(client, voice_id):
    text = "Streaming works just like converting, only in pieces. It speaks the same words."

    streamed = b"".join(client.text_to_speech.stream(voice_id, text=text, model_id="eleven_multilingual_v2"))
    converted = b"".join(client.text_to_speech.convert(voice_id, text=text, model_id="eleven_multilingual_v2"))

    # Rendered part by part, so not the same bytes; the same speech.
    assert streamed[0] == 0xFF and streamed[1] & 0xE0 == 0xE0  # MPEG frames from the first byte
    assert len(streamed) > 0.8 * len(converted)
    result = client.speech_to_text.convert(model_id="scribe_v1", file=("reply.mp3", streamed, "audio/mpeg"))
    assert result.text == text


def test_tts_error_is_raised_on_first_iteration_as_plain_api_error(client):
    audio = client.text_to_speech.convert("unknownVoice00000000", text="hi")

    with pytest.raises(ApiError) as caught:
        next(iter(audio))
    assert type(caught.value) is ApiError
    assert caught.value.status_code == 404


def test_speech_to_text_round_trip(client, voice_id):
    text = "Please transcribe this sentence."
    audio = b"".join(client.text_to_speech.convert(voice_id, text=text))

    result = client.speech_to_text.convert(model_id="scribe_v1", file=("reply.mp3", audio, "audio/mpeg"))

    assert result.text == text
    assert result.language_code == "eng"
    assert [w.text for w in result.words if w.type == "word"] == text.split()


def test_voice_limit_is_a_plain_api_error_with_the_real_body(client, emulator_control, tone):
    emulator_control.configure(voice_limit=1)
    client.voices.ivc.create(name="one", files=[tone(0.2)], request_options=NO_RETRY)

    with pytest.raises(ApiError) as caught:
        client.voices.ivc.create(name="two", files=[tone(0.2)], request_options=NO_RETRY)

    assert caught.value.status_code == 400
    assert caught.value.body["detail"]["status"] == "voice_limit_reached"
    assert "(1 / 1)" in caught.value.body["detail"]["message"]


def test_missing_name_raises_unprocessable_entity(client, tone):
    with pytest.raises(UnprocessableEntityError):
        client.voices.ivc.create(name="", files=[tone(0.2)], request_options=NO_RETRY)


def test_429_without_retries_exposes_retry_after_and_body(client, emulator_control):
    emulator_control.add_fault(path="/v1/user/subscription", status=429, retry_after=3)

    with pytest.raises(ApiError) as caught:
        client.user.subscription.get(request_options=NO_RETRY)

    assert caught.value.status_code == 429
    assert caught.value.headers["retry-after"] == "3"
    assert caught.value.body["detail"]["code"] == "concurrent_limit_exceeded"


def test_sdk_retry_drops_multipart_fields_and_the_emulator_rejects_it(client, emulator_control, tone):
    """Reproduces the SDK bug of spec §1.3: the retried IVC create arrives with `files` only."""
    emulator_control.add_fault(path="^/v1/voices/add$", status=429, retry_after=1, count=1)

    with pytest.raises(UnprocessableEntityError):
        client.voices.ivc.create(name="Alice", files=[("a.mp3", tone(0.2), "audio/mpeg")])

    first, retry = emulator_control.requests(path="/v1/voices/add")
    assert (first["status"], retry["status"]) == (429, 422)
    assert set(first["fields"]) >= {"name", "labels"}
    assert retry["fields"] == {}
    assert [f["field"] for f in retry["files"]] == ["files"]
    assert emulator_control.voice_ids() == []


def test_sdk_retries_a_json_call_through_a_503(client, emulator_control):
    emulator_control.add_fault(path="/v1/voices$", status=503, retry_after=1, count=1)

    voices = client.voices.get_all().voices

    assert voices
    assert [r["status"] for r in emulator_control.requests(path="/v1/voices$")] == [503, 200]
