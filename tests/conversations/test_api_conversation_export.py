"""Conversation export: transcript (JSON and text) and one audio file of the whole conversation, owner only."""

import io
import json
import zipfile

import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient

from clones.models import Voice
from conversations.models import Message
from tests.kits.helpers import body, send_text

pytestmark = pytest.mark.django_db


def record(alice_api, conversation, audio, name, run_tasks):
    with run_tasks():
        response = alice_api.post(f"/api/v1/conversations/{conversation}/messages/",
                                  {"audio": SimpleUploadedFile(name, audio)}, format="multipart")
    assert response.status_code == 202, response.content


def duration(data: bytes) -> float:
    info = sf.info(io.BytesIO(data))
    return info.frames / info.samplerate


def test_the_export_holds_the_transcript_and_every_spoken_turn_in_order(alice_api, alice_voice, alice_conversation,
                                                                       run_tasks):
    from voiceclone import provider

    send_text(alice_api, alice_conversation, "Hello there!", run_tasks)
    version = Voice.objects.get(pk=alice_voice).current_version
    spoken = provider.tts(voice_id=version.provider_voice_id, text="What flour do you use?").audio
    record(alice_api, alice_conversation, spoken, "question.mp3", run_tasks)
    again = provider.tts(voice_id=version.provider_voice_id, text="And how long do you knead?").audio
    record(alice_api, alice_conversation, again, "kneading.mp3", run_tasks)

    response = alice_api.get(f"/api/v1/conversations/{alice_conversation}/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["conversation.mp3", "transcript.json", "transcript.txt"]
        transcript = json.loads(archive.read("transcript.json"))
        text = archive.read("transcript.txt").decode()
        audio = archive.read("conversation.mp3")

    messages = transcript["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert messages[0]["kind"] == "typed" and messages[0]["audio"] is None and messages[0]["note"] == "typed, no audio"
    assert messages[2]["kind"] == "recording" and messages[2]["text"] == "What flour do you use?"
    spoken_turns = [m for m in messages if m["audio"]]
    assert len(spoken_turns) == 5  # every reply and both recordings
    starts = [m["audio"]["start_s"] for m in spoken_turns]
    assert starts == sorted(starts) and all(m["audio"]["end_s"] > m["audio"]["start_s"] for m in spoken_turns)
    assert all(m["ai_generated"] for m in messages if m["role"] == "assistant")
    assert transcript["disclosure"].startswith("The clone's replies are AI-generated")

    # One file, every turn in it: its length is the turns' lengths plus the pauses between them.
    stored = [Message.objects.get(pk=m["id"]) for m in spoken_turns]
    expected = sum(m["audio"]["end_s"] - m["audio"]["start_s"] for m in spoken_turns) + 0.6 * 4
    assert duration(audio) == pytest.approx(expected, abs=0.15)
    assert duration(audio) == pytest.approx(transcript["audio"]["duration_s"], abs=0.15)
    replies = [m for m in stored if m.role == "assistant"]
    for entry, message in zip([m for m in spoken_turns if m["role"] == "assistant"], replies):
        assert entry["audio"]["end_s"] - entry["audio"]["start_s"] == pytest.approx(message.clip.duration_s, abs=0.1)
    assert sf.info(io.BytesIO(audio)).samplerate == 24000
    assert "You (typed, no audio): Hello there!" in text and "Ada (AI voice)" in text


def test_only_the_owner_exports(alice_api, bob_api, staff_api, alice_conversation):
    assert bob_api.get(f"/api/v1/conversations/{alice_conversation}/export/").status_code == 404
    assert staff_api.get(f"/api/v1/conversations/{alice_conversation}/export/").status_code == 404
    assert alice_api.get(f"/api/v1/conversations/{alice_conversation}/export/").status_code == 200


def test_the_chat_page_offers_the_export(client, alice, alice_api, alice_conversation, run_tasks):
    send_text(alice_api, alice_conversation, "Hello!", run_tasks)
    client.force_login(alice)
    page = client.get(f"/conversations/{alice_conversation}/")
    assert f'/conversations/{alice_conversation}/export/' in page.content.decode()
    response = client.get(f"/conversations/{alice_conversation}/export/")
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(body(response))).testzip() is None


@pytest.mark.django_db(transaction=True)
def test_downloads_stream_under_asgi_too(alice, alice_api, alice_voice, alice_conversation, run_tasks):
    """Under ASGI a sync iterator would be read whole into memory first: the body must be an async iterator."""
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    send_text(alice_api, alice_conversation, "Hello!", run_tasks)

    async def fetch(url):
        client = AsyncClient()
        await client.aforce_login(alice)
        response = await client.get(url)
        assert response.is_async
        chunks = [chunk async for chunk in response.streaming_content]
        # The views ran in asgiref's worker thread, which opened its own database connection: close it, or
        # PostgreSQL's test database cannot be dropped at the end of the run.
        await sync_to_async(connections.close_all)()
        return response, b"".join(chunks), len(chunks)

    for url in (f"/conversations/{alice_conversation}/export/", f"/voices/{alice_voice}/kit/"):
        response, data, count = asyncio.run(fetch(url))
        assert response.status_code == 200 and int(response["Content-Length"]) == len(data) and count > 1
        assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
