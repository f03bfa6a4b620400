"""Voice kits through the API: export streams a complete, checksummed kit; importing it into an empty
database and a fresh emulator gives a voice that speaks, with the same clips and metadata."""

import hashlib
import json

import pytest
from django.core.management import call_command

from clones.models import ClipSample, Voice
from conversations.models import Message
from kits.models import ImportedClip, VoiceKitImport
from personas.models import PersonaVersion
from tests.factories import UserFactory
from tests.kits.helpers import export_kit, import_kit, read_kit, send_text


def approve_generated(staff_api, voice_id):
    ids = list(ClipSample.objects.filter(voice_id=voice_id, source="generated").values_list("pk", flat=True))
    response = staff_api.post("/api/v1/clips/bulk-review/", {"ids": ids, "status": "approved"}, format="json")
    assert response.status_code == 200, response.content
    return ids


def voice_with_history(alice_api, staff_api, make_voice, run_tasks):
    voice_id = make_voice(alice_api)
    response = alice_api.post("/api/v1/conversations/", {"voice": voice_id}, format="json")
    conversation = response.json()["id"]
    for text in ("Hello Ada!", "How do you make 2 loaves of sourdough?", "My grandmother baked rye bread."):
        send_text(alice_api, conversation, text, run_tasks)
    approve_generated(staff_api, voice_id)
    response = alice_api.patch(f"/api/v1/voices/{voice_id}/",
                               {"persona": "You are Ada, a cheerful baker from Leeds. You love rye."}, format="json")
    assert response.status_code == 200
    return voice_id


def audio_of(files):
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()
            if name.startswith(("originals/", "clips/"))}


@pytest.mark.django_db(transaction=True)
def test_export_then_import_into_an_empty_database_speaks_with_the_same_clips(
    alice, alice_api, staff_api, make_voice, run_tasks, emulator_ctl, settings
):
    voice_id = voice_with_history(alice_api, staff_api, make_voice, run_tasks)
    kit = export_kit(alice_api, voice_id)
    files = read_kit(kit)

    # Everything is in the kit and every checksum holds, the manifest's own included.
    assert set(files) >= {"manifest.json", "metadata.csv", "SHA256SUMS", "README.txt"}
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    assert all(hashlib.sha256(files[name]).hexdigest() == digest for name, digest in sums.items())
    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "voiceclone.voice-kit"
    assert len(manifest["originals"]) == 2 and len(manifest["clips"]) == 3
    assert [v["number"] for v in manifest["versions"]] == [1]
    assert [p["source"] for p in manifest["persona_versions"]] == ["initial", "manual"]
    assert manifest["consent"][0]["record_hash"].startswith("hmac-sha256:")
    assert "speaker_name" not in json.dumps(manifest["consent"]) and "ip_address" not in json.dumps(manifest)
    assert all(c["review"]["status"] == "approved" and c["review"]["reviewed_by"] == "staff" for c in manifest["clips"])
    metadata = files["metadata.csv"].decode().splitlines()
    assert len(metadata) == 3 and all(line.count("|") == 2 for line in metadata)
    assert [line.split("|")[:2] for line in metadata] == [[c["id"], c["text"]] for c in manifest["clips"]]

    # An empty database and a fresh emulator: nothing of the old installation is left.
    call_command("flush", interactive=False, verbosity=0)
    emulator_ctl.reset(voice_limit=30)
    assert not Voice.objects.exists() and not emulator_ctl.voice_ids()
    carol = UserFactory(username="carol")
    from tests.conftest import _token_client

    carol_api = _token_client(carol)
    response = import_kit(carol_api, kit, run_tasks, speaker_name="Ada Lovelace")
    assert response.status_code == 202, response.content
    new_id = response.json()["voice"]["id"]
    # The answer is the importer's view of their new voice (it used to say owner null, is_owner false).
    assert (response.json()["voice"]["owner"], response.json()["voice"]["is_owner"]) == ("carol", True)
    voice = Voice.objects.get(pk=new_id)
    assert voice.status == Voice.Status.READY and voice.owner == carol
    assert emulator_ctl.voice_ids() == [voice.current_version.provider_voice_id]
    kit_import = VoiceKitImport.objects.get(voice=voice)
    assert kit_import.status == "done" and kit_import.clips_done == 3 and kit_import.rejected == []
    assert voice.consents.get().given_by == carol
    assert list(PersonaVersion.objects.filter(voice=voice).order_by("number").values_list("source", flat=True)) == [
        "initial", "manual"]
    status = carol_api.get(f"/api/v1/voices/{new_id}/import/").json()
    assert status["progress"] == 1.0 and status["kit_sha256"] == hashlib.sha256(kit).hexdigest()

    # It speaks.
    conversation = carol_api.post("/api/v1/conversations/", {"voice": new_id}, format="json").json()["id"]
    turn = send_text(carol_api, conversation, "Are you still there?", run_tasks)
    reply = Message.objects.get(pk=turn["assistant_message"]["id"])
    assert reply.status == Message.Status.READY and reply.clip.file and reply.voice_version == voice.current_version

    # The same clips and metadata: the new voice's kit has the same audio files and metadata.csv.
    again = read_kit(export_kit(carol_api, new_id))
    assert audio_of(again) == audio_of(files)
    assert again["metadata.csv"] == files["metadata.csv"]
    clips = {c["id"]: c for c in json.loads(again["manifest.json"])["clips"]}
    for old in manifest["clips"]:
        new = clips[old["id"]]
        assert (new["sha256"], new["text"], new["lineage_depth"], new["version"], new["review"]) == (
            old["sha256"], old["text"], old["lineage_depth"], old["version"], old["review"])
    imported = ImportedClip.objects.filter(kit_import=kit_import).select_related("clip")
    assert all(row.clip.created_at.isoformat() == clips[row.kit_id]["created_at"] for row in imported)
    history = json.loads(again["manifest.json"])["imported_from"]
    assert history[0]["voice_id"] == voice_id and history[0]["versions"][0]["number"] == 1


def test_kit_export_is_for_the_owner_and_staff_only(alice_api, bob_api, staff_api, alice_voice):
    assert bob_api.get(f"/api/v1/voices/{alice_voice}/export/").status_code == 404
    assert staff_api.get(f"/api/v1/voices/{alice_voice}/export/").status_code == 200


def test_export_refuses_to_send_a_file_that_changed_in_storage(alice_api, alice_voice):
    from django.core.files.storage import default_storage

    original = ClipSample.objects.filter(voice_id=alice_voice, source="original").first()
    with default_storage.open(original.file.name, "wb") as fh:
        fh.write(b"RIFF" + b"\0" * (original.size_bytes - 4))
    response = alice_api.get(f"/api/v1/voices/{alice_voice}/export/")
    with pytest.raises(Exception, match="changed since it was stored"):
        b"".join(response.streaming_content)
