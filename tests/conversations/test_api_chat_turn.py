"""A chat turn through the API: every spoken reply is stored for good, failures are clear and retryable."""

import io

import pytest
import soundfile as sf
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from clones.models import ClipSample, Voice
from conversations import services as conversation_services
from conversations.models import Conversation, Message
from tests.audio import wav_bytes
from tests.served_audio import served
from voiceclone import provider
from voiceclone.events.models import Event

pytestmark = pytest.mark.django_db(transaction=False)


def send_text(api, conversation_id, text, run):
    with run():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


def test_text_and_voice_turns_are_all_spoken_and_stored(alice_api, alice_voice, alice_conversation, run_tasks):
    turns = [send_text(alice_api, alice_conversation, text, run_tasks)
             for text in ("Hello there!", "How do you make sourdough?", "Thanks, that helps.")]
    assert turns[0]["assistant_message"]["status"] == "pending"
    assert turns[0]["user_message"]["text"] == "Hello there!"

    # A recording from the browser: audio the emulator itself spoke, so its STT knows the words.
    version = Voice.objects.get(pk=alice_voice).current_version
    spoken = provider.tts(voice_id=version.provider_voice_id, text="What flour do you use?").audio
    with run_tasks():
        response = alice_api.post(
            f"/api/v1/conversations/{alice_conversation}/messages/",
            {"audio": SimpleUploadedFile("rec.mp3", spoken, content_type="audio/mpeg")},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    turns.append(response.json())

    for turn in turns:
        message_id = turn["assistant_message"]["id"]
        detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
        assert detail["status"] == "ready", detail
        assert detail["voice_version"] == 1
        assert detail["is_ai_generated"] is True
        assert detail["text"]
        message = Message.objects.select_related("clip").get(pk=message_id)
        clip = message.clip
        assert clip.source == ClipSample.Source.GENERATED
        assert clip.file.name.startswith(f"clone_responses/{alice_voice}/response_")
        assert clip.file.name.endswith(f"_{clip.pk}.mp3")
        stored = default_storage.open(clip.file.name).read()
        assert clip.sha256 == __import__("hashlib").sha256(stored).hexdigest()
        assert clip.size_bytes == len(stored)
        assert clip.text == detail["text"]
        assert clip.character_cost == len(clip.text)
        assert clip.provider_request_id
        decoded, rate = sf.read(io.BytesIO(stored))
        assert len(decoded) / rate == pytest.approx(clip.duration_s, abs=0.1)
        answer = served(alice_api.get(f"/api/v1/messages/{message_id}/audio"))
        assert answer.status == 200
        assert answer.headers["content-type"] == "audio/mpeg"
        assert answer.body == stored

    voice_message = Message.objects.get(pk=turns[3]["user_message"]["id"])
    assert voice_message.text == "What flour do you use?"
    assert voice_message.input_kind == Message.InputKind.AUDIO
    assert ClipSample.objects.filter(voice_id=alice_voice, source="generated").count() == 4
    # The user's recording is never stored as a clip of the clone's voice.
    assert not ClipSample.objects.filter(sha256=__import__("hashlib").sha256(spoken).hexdigest()).exists()
    assert Event.objects.filter(type="message.ready", conversation_id=alice_conversation).count() == 4


def test_audio_endpoint_honours_range_requests(alice_api, alice_conversation, run_tasks):
    turn = send_text(alice_api, alice_conversation, "Tell me a story.", run_tasks)
    url = f"/api/v1/messages/{turn['assistant_message']['id']}/audio"
    whole = served(alice_api.get(url)).body
    partial = served(alice_api.get(url, HTTP_RANGE="bytes=10-99"), range_header="bytes=10-99")
    assert partial.status == 206
    assert partial.headers["content-range"] == f"bytes 10-99/{len(whole)}"
    assert partial.body == whole[10:100]
    beyond = f"bytes={len(whole) + 5}-"
    assert served(alice_api.get(url, HTTP_RANGE=beyond), range_header=beyond).status == 416


def test_another_user_gets_404_for_everything(alice_api, bob_api, alice_voice, alice_conversation, run_tasks):
    turn = send_text(alice_api, alice_conversation, "Hello!", run_tasks)
    message_id = turn["assistant_message"]["id"]
    for url in (
        f"/api/v1/voices/{alice_voice}/",
        f"/api/v1/conversations/{alice_conversation}/",
        f"/api/v1/conversations/{alice_conversation}/messages/",
        f"/api/v1/messages/{message_id}/",
        f"/api/v1/messages/{message_id}/audio",
        f"/api/v1/messages/{turn['user_message']['id']}/",
    ):
        assert bob_api.get(url).status_code == 404, url
    assert bob_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "hi"},
                        format="json").status_code == 404
    assert bob_api.post(f"/api/v1/messages/{message_id}/retry/").status_code == 404
    assert bob_api.post("/api/v1/conversations/", {"voice": alice_voice}, format="json").status_code == 400
    assert bob_api.get("/api/v1/conversations/").json()["results"] == []


def test_staff_can_read_and_listen_but_not_talk(staff_api, alice_api, alice_conversation, run_tasks):
    turn = send_text(alice_api, alice_conversation, "Hello!", run_tasks)
    message_id = turn["assistant_message"]["id"]
    assert served(staff_api.get(f"/api/v1/messages/{message_id}/audio")).status == 200
    assert staff_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "hi"},
                          format="json").status_code == 404


def test_transient_tts_outage_is_retried_and_the_turn_ends_ready(alice_api, alice_conversation, emulator_ctl,
                                                                  run_tasks):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=2)
    turn = send_text(alice_api, alice_conversation, "Are you there?", run_tasks)
    message = Message.objects.get(pk=turn["assistant_message"]["id"])
    assert message.status == Message.Status.READY
    assert message.clip is not None
    tts_calls = [r for r in emulator_ctl.requests() if r["path"].startswith("/v1/text-to-speech/")]
    assert [r["status"] for r in tts_calls] == [503, 503, 200]


def test_rate_limit_with_retry_after_is_honoured(alice_api, alice_conversation, emulator_ctl, run_tasks):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=429,
                           error_status="system_busy", retry_after=0, count=1)
    turn = send_text(alice_api, alice_conversation, "Busy?", run_tasks)
    assert Message.objects.get(pk=turn["assistant_message"]["id"]).status == Message.Status.READY


def test_persistent_outage_fails_with_reason_and_no_clip_then_retry_succeeds(
    alice_api, alice_conversation, emulator_ctl, run_tasks
):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=503, count=None)
    turn = send_text(alice_api, alice_conversation, "Hello?", run_tasks)
    message_id = turn["assistant_message"]["id"]
    detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
    assert detail["status"] == "failed"
    assert "Speech synthesis failed" in detail["failure_reason"]
    assert detail["audio_url"] is None
    assert not ClipSample.objects.filter(source="generated").exists()
    assert alice_api.get(f"/api/v1/messages/{message_id}/audio").status_code == 404
    assert Event.objects.filter(type="message.failed").count() == 1

    emulator_ctl.clear_faults()
    with run_tasks():
        response = alice_api.post(f"/api/v1/messages/{message_id}/retry/")
    assert response.status_code == 202
    detail = alice_api.get(f"/api/v1/messages/{message_id}/").json()
    assert detail["status"] == "ready"
    assert ClipSample.objects.filter(source="generated").count() == 1
    # Retrying a ready reply is refused clearly.
    assert alice_api.post(f"/api/v1/messages/{message_id}/retry/").status_code == 409


def test_crash_between_storing_clip_and_marking_ready_is_completed_without_duplicate(
    alice_api, alice_conversation, emulator_ctl, run_tasks, monkeypatch
):
    # A worker crash cannot be expressed by the emulator: simulate the process dying inside the
    # final "mark ready" transaction, after the clip and its file were stored.
    class WorkerKilled(BaseException):
        pass

    real_event_emit = conversation_services.event_emit

    def die(**kwargs):
        if kwargs["type"] == "message.ready":
            raise WorkerKilled()
        return real_event_emit(**kwargs)

    monkeypatch.setattr(conversation_services, "event_emit", die)
    with pytest.raises(WorkerKilled):
        send_text(alice_api, alice_conversation, "Don't lose me.", run_tasks)
    message = Message.objects.get(role="assistant")
    assert message.status == Message.Status.PENDING
    clip = ClipSample.objects.get(source="generated")
    stored_name = clip.file.name
    assert default_storage.exists(stored_name)

    monkeypatch.undo()
    Message.objects.filter(pk=message.pk).update(claimed_at=None)  # the dead worker's lease expired
    conversation_services.message_reply_generate(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.READY
    assert message.clip_id == clip.pk
    assert ClipSample.objects.filter(source="generated").count() == 1
    assert default_storage.listdir(f"clone_responses/{clip.voice_id}")[1] == [stored_name.rsplit("/", 1)[1]]
    tts_calls = [r for r in emulator_ctl.requests() if r["path"].startswith("/v1/text-to-speech/")]
    assert len(tts_calls) == 1  # the stored audio was reused, not synthesised again


def test_crash_after_tts_before_file_written_resumes_on_same_clip(alice_api, alice_conversation, run_tasks,
                                                                  monkeypatch):
    class WorkerKilled(BaseException):
        pass

    from clones import storage

    real_save = storage.save_bytes

    def die(path, data):
        raise WorkerKilled()

    monkeypatch.setattr(storage, "save_bytes", die)
    with pytest.raises(WorkerKilled):
        send_text(alice_api, alice_conversation, "Still here?", run_tasks)
    monkeypatch.setattr(storage, "save_bytes", real_save)
    message = Message.objects.get(role="assistant")
    Message.objects.filter(pk=message.pk).update(claimed_at=None)
    conversation_services.message_reply_generate(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.READY
    assert ClipSample.objects.filter(source="generated").count() == 1
    assert message.clip.sha256


def test_a_duplicate_task_does_not_run_the_turn_twice(alice_api, alice_conversation, emulator_ctl, run_tasks):
    turn = send_text(alice_api, alice_conversation, "Once only.", run_tasks)
    conversation_services.message_reply_generate(message_id=turn["assistant_message"]["id"])
    assert ClipSample.objects.filter(source="generated").count() == 1
    tts_calls = [r for r in emulator_ctl.requests() if r["path"].startswith("/v1/text-to-speech/")]
    assert len(tts_calls) == 1


def test_idempotency_key_returns_the_same_turn(alice_api, alice_conversation, run_tasks):
    url = f"/api/v1/conversations/{alice_conversation}/messages/"
    with run_tasks():
        first = alice_api.post(url, {"text": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        second = alice_api.post(url, {"text": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.json()["assistant_message"]["id"] == second.json()["assistant_message"]["id"]
    assert Message.objects.filter(role="assistant").count() == 1


@pytest.mark.parametrize(
    "payload, fmt, expected",
    [
        ({"text": ""}, "json", 400),
        ({"text": "x" * 2001}, "json", 400),
        ({"audio": SimpleUploadedFile("notes.webm", b"this is not audio")}, "multipart", 400),
        # Two recordings in one message: only one would be heard, so neither is taken.
        ({"audio": [SimpleUploadedFile("one.wav", wav_bytes(2.0, seed=1)),
                    SimpleUploadedFile("two.wav", wav_bytes(2.0, seed=2))]}, "multipart", 400),
    ],
)
def test_bad_messages_get_clear_errors(alice_api, alice_conversation, payload, fmt, expected):
    response = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", payload, format=fmt)
    assert response.status_code == expected
    assert response.json()["errors"]
    assert not Message.objects.exists()


def test_archived_conversation_refuses_new_messages(alice_api, alice_conversation):
    assert alice_api.post(f"/api/v1/conversations/{alice_conversation}/archive/").status_code == 200
    response = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "hi"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_message_list_is_cursor_paginated_oldest_first(alice_api, alice_conversation, run_tasks):
    for i in range(3):
        send_text(alice_api, alice_conversation, f"Message {i}", run_tasks)
    page = alice_api.get(f"/api/v1/conversations/{alice_conversation}/messages/?page_size=4").json()
    assert [m["role"] for m in page["results"]] == ["user", "assistant", "user", "assistant"]
    assert page["results"][0]["text"] == "Message 0"
    rest = alice_api.get(page["next"]).json()
    assert [m["text"] for m in rest["results"] if m["role"] == "user"] == ["Message 2"]
    assert rest["next"] is None


def test_voice_gone_at_provider_rereads_current_version_once(alice_api, alice_voice, alice_conversation,
                                                             emulator_ctl, run_tasks):
    version = Voice.objects.get(pk=alice_voice).current_version
    provider.delete_voice(voice_id=version.provider_voice_id)
    turn = send_text(alice_api, alice_conversation, "Hello?", run_tasks)
    message = Message.objects.get(pk=turn["assistant_message"]["id"])
    assert message.status == Message.Status.FAILED
    assert message.failure_code == "voice_gone"


def test_sweep_completes_a_reply_whose_task_was_lost(alice_api, alice_conversation, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from conversations import tasks

    # The enqueue callback never runs: the broker lost the task.
    with django_capture_on_commit_callbacks(execute=False):
        response = alice_api.post(f"/api/v1/conversations/{alice_conversation}/messages/", {"text": "Lost?"},
                                  format="json")
    message_id = response.json()["assistant_message"]["id"]
    assert tasks.messages_pending_sweep() == 0  # too recent: its task may still be on its way
    Message.objects.filter(pk=message_id).update(created_at=timezone.now() - timedelta(hours=1))
    assert tasks.messages_pending_sweep() == 1
    assert Message.objects.get(pk=message_id).status == Message.Status.READY


@pytest.mark.django_db(transaction=True)
def test_voice_gone_mid_reply_is_spoken_by_the_version_promoted_meanwhile(alice_api, alice_voice, alice_conversation,
                                                                          emulator_ctl):
    """The provider deletes the old voice while a TTS call to it is in flight and the Voice was
    promoted meanwhile: the reply re-reads the current version once and is spoken by the new one."""
    import threading
    import time as _time

    from clones.models import VoiceVersion
    from tests.audio import wav_bytes

    voice = Voice.objects.get(pk=alice_voice)
    old = voice.current_version
    new_provider_id = provider.create_voice(
        name="Ada v2", files=[provider.AudioFile(filename="s.wav", content=wav_bytes(3, seed=5), content_type="audio/wav")]
    )
    conversation = Conversation.objects.get(pk=alice_conversation)
    _, pending = conversation_services.message_send(conversation=conversation, text="Still you?")
    # In this transactional test the enqueued task ran at once (sync mode); put the reply back to
    # pending so it can be run again in a thread, with the TTS request to the old voice held back
    # long enough to promote and delete underneath it.
    Message.objects.filter(pk=pending.pk).update(status="pending", clip=None, claimed_at=None)
    ClipSample.objects.filter(source="generated").delete()
    emulator_ctl.add_fault(path=rf"^/v1/text-to-speech/{old.provider_voice_id}(/stream)?$", method="POST", mode="latency",
                           delay_s=1.0, count=1)

    old_tts = rf"^/v1/text-to-speech/{old.provider_voice_id}(/stream)?$"
    before = len(emulator_ctl.requests(path=old_tts))
    worker = threading.Thread(target=conversation_services.message_reply_generate, kwargs={"message_id": pending.pk})
    worker.start()
    for _ in range(500):  # until the held request to the old voice has arrived
        if len(emulator_ctl.requests(path=old_tts)) > before:
            break
        _time.sleep(0.01)
    else:
        pytest.fail("the reply never asked the provider to speak with the old voice")
    VoiceVersion.objects.filter(pk=old.pk).update(state="archived")
    new = VoiceVersion.objects.create(voice=voice, number=2, provider_voice_id=new_provider_id, state="active")
    Voice.objects.filter(pk=voice.pk).update(current_version=new)
    provider.delete_voice(voice_id=old.provider_voice_id)
    worker.join(timeout=30)

    message = Message.objects.get(pk=pending.pk)
    assert message.status == Message.Status.READY, message.failure_reason
    assert message.voice_version_id == new.pk
    assert message.clip.version_id == new.pk
    assert [r["status"] for r in emulator_ctl.requests(path=old_tts)][before:] == [404]  # gone mid-call


def _noise_wav(seconds: float, level: float, seed: int = 0) -> bytes:
    """Steady white noise at `level` (0 = digital silence): what a muted or distant microphone records."""
    import numpy as np

    samples = (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * level).astype("float32")
    buffer = io.BytesIO()
    sf.write(buffer, samples, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _stored_user_audio() -> set[str]:
    found, pending = set(), ["user_audio"]
    while pending:
        folder = pending.pop()
        if not default_storage.exists(folder):
            continue
        dirs, files = default_storage.listdir(folder)
        pending += [f"{folder}/{d}" for d in dirs]
        found |= {f"{folder}/{f}" for f in files}
    return found


@pytest.mark.parametrize("level", [0.0, 0.0005, 0.01], ids=["digital-silence", "near-silent-hiss", "steady-noise"])
def test_voice_message_without_speech_is_refused_before_transcription(
        alice_api, alice_conversation, emulator_ctl, level):
    """A silent or near-silent voice message used to be transcribed (the recogniser made up words, or
    heard nothing) and answered. It is refused at once with a reason, nothing is stored or paid for."""
    before = len([r for r in emulator_ctl.requests() if r["path"].startswith("/v1/speech-to-text")])
    files_before = _stored_user_audio()
    response = alice_api.post(
        f"/api/v1/conversations/{alice_conversation}/messages/",
        {"audio": SimpleUploadedFile("quiet.wav", _noise_wav(3.0, level), content_type="audio/wav")},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    assert "No speech was heard" in response.json()["errors"]["audio"][0]
    assert not Message.objects.exists()
    assert _stored_user_audio() == files_before
    after = len([r for r in emulator_ctl.requests() if r["path"].startswith("/v1/speech-to-text")])
    assert after == before


def test_voice_message_with_speech_is_still_answered(alice_api, alice_conversation, run_tasks):
    with run_tasks():
        response = alice_api.post(
            f"/api/v1/conversations/{alice_conversation}/messages/",
            {"audio": SimpleUploadedFile("q.wav", wav_bytes(1.5, seed=3), content_type="audio/wav")},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    reply = Message.objects.get(pk=response.json()["assistant_message"]["id"])
    assert reply.status == Message.Status.READY
