"""`GET /api/v1/conversations/{id}/events/`: a conversation's live updates as Server-Sent Events.

Under the test server (WSGI) a stream ends after SSE_WSGI_MAX_S (1 s in tests/settings.py), so each
test reads a whole stream and looks at what it carried.
"""

import json

import pytest

from clones.models import Voice
from voiceclone.events.services import event_emit

pytestmark = pytest.mark.django_db


def read_stream(api, conversation_id, **headers) -> tuple[int, list[dict], str]:
    """(status, events as {"id", "event", "data"}, raw body) of one whole stream."""
    query = headers.pop("query", "")
    response = api.get(f"/api/v1/conversations/{conversation_id}/events/{query}",
                       headers={"Accept": "text/event-stream", **headers})
    if not response.streaming:
        return response.status_code, [], response.content.decode()
    assert response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append({"id": int(fields["id"]), "event": fields["event"], "data": json.loads(fields["data"])})
    return response.status_code, events, body


def send(api, conversation_id, text, run_tasks) -> str:
    with run_tasks():
        response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["assistant_message"]["id"]


def test_a_turn_is_told_step_by_step_and_a_stream_resumes_after_its_last_event(
    alice_api, alice_conversation, run_tasks
):
    reply_id = send(alice_api, alice_conversation, "Hello there!", run_tasks)

    status, events, body = read_stream(alice_api, alice_conversation, query="?last_event_id=0")

    assert status == 200 and body.startswith("retry: ")
    steps = [e for e in events if e["data"]["payload"].get("message_id") == reply_id]
    assert [e["event"] for e in steps] == [
        "message.pending", "message.text_ready", "message.audio_streaming", "message.ready"]
    assert steps[1]["data"]["payload"]["text"]
    assert all(e["data"]["type"] == e["event"] and e["data"]["id"] == e["id"] for e in steps)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)

    # Reconnecting as EventSource does: only what came after the last event seen.
    _, resumed, _ = read_stream(alice_api, alice_conversation, **{"Last-Event-ID": str(steps[1]["id"])})
    assert [e["event"] for e in resumed] == ["message.audio_streaming", "message.ready"]


def test_without_a_cursor_the_stream_starts_with_the_next_event(alice_api, alice_conversation, run_tasks):
    send(alice_api, alice_conversation, "Hello there!", run_tasks)

    _, events, _ = read_stream(alice_api, alice_conversation)

    assert events == []


def test_voice_version_changes_reach_the_conversations_of_that_voice(alice, alice_api, alice_voice,
                                                                     alice_conversation):
    voice = Voice.objects.get(pk=alice_voice)
    other = Voice.objects.exclude(pk=alice_voice).first()
    event_emit(type="voice.version_promoted", user=alice, voice=voice, payload={"version": 2})
    if other is not None:
        event_emit(type="voice.version_promoted", user=alice, voice=other, payload={"version": 7})

    _, events, _ = read_stream(alice_api, alice_conversation, query="?last_event_id=0")

    promoted = [e for e in events if e["event"] == "voice.version_promoted"]
    assert [e["data"]["payload"]["version"] for e in promoted] == [2]


def test_a_failed_reply_is_told_with_its_reason(alice_api, alice_conversation, run_tasks, emulator_ctl):
    emulator_ctl.add_fault(path=r"^/v1/text-to-speech/", method="POST", status=400, count=None)
    reply_id = send(alice_api, alice_conversation, "Hello!", run_tasks)

    _, events, _ = read_stream(alice_api, alice_conversation, query="?last_event_id=0")

    failed = [e for e in events if e["event"] == "message.failed"]
    assert [e["data"]["payload"]["message_id"] for e in failed] == [reply_id]
    assert failed[0]["data"]["payload"]["reason"]


def test_an_idle_stream_sends_heartbeats(alice_api, alice_conversation, settings):
    settings.SSE_HEARTBEAT_S = 0.5
    settings.SSE_WSGI_MAX_S = 1.5

    _, events, body = read_stream(alice_api, alice_conversation)

    assert events == [] and ": heartbeat\n\n" in body


def test_someone_elses_conversation_is_a_404(bob_api, alice_conversation):
    status, _, body = read_stream(bob_api, alice_conversation)

    assert status == 404
    assert json.loads(body)["code"]
