"""The reply task's database round trips (issue 11 item 6): a turn costs a bounded number of queries that
does not grow with the conversation, and nothing on its way to ready decodes the audio again or writes its
fingerprint (the clip analysis, which decodes it anyway, does that after). Counts, never times."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clones.models import GeneratedAudio
from conversations import tasks
from conversations.models import Message
from fidelity.models import AudioFingerprint

pytestmark = pytest.mark.django_db

# Claim, the message, the history and memory, the text and its event, the lease check, the voice's current
# version, the render-reuse lookup, the usage row, the streaming event, the clip row, its file and hash,
# the ready mark and its event, the analysis task: with their transactions, 38 on SQLite today.
MAX_QUERIES = 40


def pending_reply(api, conversation_id, text):
    response = api.post(f"/api/v1/conversations/{conversation_id}/messages/", {"text": text}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["assistant_message"]["id"]


def reply_queries(api, conversation_id, text) -> list[str]:
    reply = pending_reply(api, conversation_id, text)  # on-commit callbacks are not run: the task waits
    with CaptureQueriesContext(connection) as queries:
        tasks.message_reply_generate(reply)
    assert Message.objects.get(pk=reply).status == Message.Status.READY
    return [q["sql"] for q in queries.captured_queries]


def test_a_turn_costs_bounded_queries_that_do_not_grow_with_the_conversation(
        alice_api, alice_conversation, run_tasks):
    first = reply_queries(alice_api, alice_conversation, "Hello, how are you today, number one?")
    for n in range(12):
        with run_tasks():
            pending_reply(alice_api, alice_conversation, f"Tell me one more thing about bread, number {n}.")
    later = reply_queries(alice_api, alice_conversation, "And how is the starter doing, number two?")

    assert len(first) <= MAX_QUERIES, "\n".join(first)
    assert len(later) == len(first), "\n".join(later)
    # The user the events are addressed to comes with the message, not from a query per event.
    assert not [q for q in later if 'FROM "auth_user"' in q]


def test_the_reply_is_ready_before_its_fingerprint_which_the_clip_analysis_adds(
        alice_api, alice_conversation, run_tasks):
    reply = pending_reply(alice_api, alice_conversation, "What do you bake on Sundays?")
    with CaptureQueriesContext(connection) as queries:
        with run_tasks() as enqueued:  # runs the clip analysis the ready mark enqueued, after the reply task
            tasks.message_reply_generate(reply)
    sql = [q["sql"] for q in queries.captured_queries]
    ready = next(i for i, q in enumerate(sql) if q.startswith('INSERT INTO "events_event"') and "message.ready" in q)

    assert not [q for q in sql[:ready] if 'INTO "fidelity_' in q]
    assert len(enqueued) == 1
    message = Message.objects.select_related("clip").get(pk=reply)
    assert message.status == Message.Status.READY
    generated = GeneratedAudio.objects.get(sha256=message.clip.sha256)
    fingerprint = AudioFingerprint.objects.get(generated_audio=generated)
    assert fingerprint.landmark_count == fingerprint.landmarks.count() > 0
    assert [i for i, q in enumerate(sql) if 'INTO "fidelity_' in q][0] > ready


def test_turns_share_one_pooled_connection_to_the_provider(alice_api, alice_conversation, run_tasks, emulator,
                                                           emulator_ctl):
    """The SDK client is built once per process and kept (voiceclone.provider.client): one keep-alive
    connection carries every turn's streaming TTS, rather than a new client and connection per call."""
    with run_tasks():
        pending_reply(alice_api, alice_conversation, "Warm the connection up, please.")
    streams = len(emulator_ctl.requests(path="/stream$", method="POST"))
    opened = emulator.connections_opened  # (the control client has its own connections: counted apart)
    # Distinct topics, so distinct replies: each is spoken (an identical earlier render would be reused).
    for text in ("Tell me about the plum jam.", "What do you think about the walnut bread?",
                 "I love making the cherry pie."):
        with run_tasks():
            pending_reply(alice_api, alice_conversation, text)

    opened_during_turns = emulator.connections_opened - opened

    spoken = Message.objects.filter(role=Message.Role.ASSISTANT, status=Message.Status.READY)
    assert spoken.count() == 4
    assert len(emulator_ctl.requests(path="/stream$", method="POST")) == streams + 3  # three provider calls
    assert opened_during_turns == 0
