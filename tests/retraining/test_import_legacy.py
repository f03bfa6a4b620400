"""`manage.py import_legacy`: adopting a previous installation's uploads and provider voices (issue 14, item 5).

The tree is built by the test; the foreign voices are created at the emulator through the real SDK.
"""

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clones.models import ClipSample, ConsentRecord, GeneratedAudio, Voice, VoiceVersion
from clones.services import clip_review, select_clips_for_retrain
from retraining.models import ForeignProviderVoice, RetrainRun
from retraining.services import retrain_run_approve, retrain_run_propose
from tests.audio import mp3_bytes, wav_bytes
from voiceclone import provider

from .helpers import fill_account, voice_at_provider

pytestmark = pytest.mark.django_db


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(root: Path, relative: str, data: bytes) -> bytes:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def foreign_voice(name: str, samples: list[bytes]) -> str:
    """A voice made by "the old app": no voiceclone marker, created through the SDK."""
    return provider.create_voice(
        name=name, files=[provider.AudioFile(f"take{i}.wav", data, "audio/wav") for i, data in enumerate(samples)],
        description="made by the old app", labels={},
    )


@pytest.fixture
def legacy(tmp_path, emulator_ctl):
    """A previous installation: Grandma's voice (referenced by the uploads), two voices the uploads do not
    mention, one voiceclone voice, users' speech, the clone's speech in both places, a broken file."""
    ours = voice_at_provider(name="Ours", originals_s=(20.0,))
    # Her own voice: other pitches than the replies (speech_like's seed only changes faint noise, so the same
    # pitch would be the same audio, rightly refused as the clone's speech once the replies are fingerprinted).
    originals = [wav_bytes(3, seed=301, f0=215.0), wav_bytes(4, seed=302, f0=235.0)]
    grandma = foreign_voice("Grandma", originals)
    unused = foreign_voice("Old experiment", [wav_bytes(2, seed=303)])
    kept = foreign_voice("Keep me", [wav_bytes(2, seed=304)])

    root = tmp_path / "uploads"
    speech = [write(root, "voice_messages/user1/msg_1.webm", wav_bytes(2, seed=401)),
              write(root, "voice_messages/user2/msg_2.wav", wav_bytes(2, seed=402))]
    replies = [write(root, f"clone_responses/{grandma}/response_{i}.mp3", mp3_bytes(3, seed=500 + i)) for i in range(3)]
    # The old app once saved a user's recording among the clone's replies: it must never become a clip.
    write(root, f"clone_responses/{grandma}/response_99.mp3", speech[1])
    write(root, f"public/generated/{grandma}_copy.mp3", replies[0])  # the same reply again
    extra = write(root, f"public/generated/{grandma}_late.mp3", mp3_bytes(2, seed=600))
    write(root, f"clone_responses/{grandma}/response_broken.mp3", b"ID3 this is not audio at all")
    write(root, "public/generated/whose.mp3", mp3_bytes(2, seed=603))  # two voices in the tree: unattributable
    ours_reply = write(root, f"clone_responses/{ours.current_version.provider_voice_id}/response_1.mp3",
                       mp3_bytes(2, seed=601))
    write(root, "clone_responses/gone1234567890abcdef/response_1.mp3", mp3_bytes(2, seed=602))
    write(root, f"consent/{grandma}.txt", "Margaret Smith\nConfirmed by her daughter, who recorded her in 2024.\n".encode())
    return {"root": root, "ours": ours, "grandma": grandma, "unused": unused, "kept": kept, "speech": speech,
            "replies": replies, "extra": extra, "ours_reply": ours_reply, "originals": originals}


def run(root, *args) -> str:
    out = StringIO()
    call_command("import_legacy", str(root), *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    return {
        "voices": Voice.objects.count(),
        "versions": VoiceVersion.objects.count(),
        "clips": ClipSample.objects.count(),
        "consents": ConsentRecord.objects.count(),
        "generated": GeneratedAudio.objects.count(),
        "foreign": list(ForeignProviderVoice.objects.values_list("provider_voice_id", "is_deletable")),
    }


def test_dry_run_reports_apply_imports_and_a_second_apply_changes_nothing(legacy, staff, run_tasks):
    root, grandma = legacy["root"], legacy["grandma"]
    before = snapshot()

    report = run(root, "--mark-deletable", legacy["unused"])
    assert report.startswith("Dry run (nothing changed; --apply imports)")
    assert f"adopt “Grandma” ({grandma}) as a voice, version 1" in report
    assert "recording(s) at the provider become originals (confirmed: consent/" in report
    assert f"mark “Old experiment” ({legacy['unused']}) deletable" in report
    assert f"leave “Keep me” ({legacy['kept']}) alone" in report
    assert "gone1234567890abcdef: no such voice" in report
    assert "  5 to import as clips (unknown lineage, pending review)." in report
    assert "  1 duplicates of another file in the tree." in report
    assert "  1 identical to users' speech (never imported)." in report
    assert "  1 not decodable audio." in report
    assert "  1 not attributable to one voice." in report
    assert "  1 of a voice that no longer exists." in report
    assert "Users' speech: 2 file(s) in voice_messages/, never used for training." in report
    assert snapshot() == before  # a dry run changes nothing

    with pytest.raises(CommandError, match="--owner"):
        run(root, "--apply")

    with run_tasks():
        report = run(root, "--apply", "--owner", "staff", "--mark-deletable", legacy["unused"])
    assert "Changes: 1 voice(s) adopted, 5 clip(s) imported, 2 original(s) added, 1 voice(s) marked deletable." in report

    # Grandma's provider voice is version 1 of a new voice, adopted.
    version = VoiceVersion.objects.get(provider_voice_id=grandma)
    voice = version.voice
    assert voice.owner == staff and voice.status == Voice.Status.READY and voice.current_version == version
    assert version.number == 1 and version.state == "active" and version.adopted_at is not None

    # Her replies are clips of unknown lineage, pending review, known to the generated-audio registry.
    clips = ClipSample.objects.filter(voice=voice, source="generated")
    assert {c.sha256 for c in clips} == {sha(r) for r in legacy["replies"]} | {sha(legacy["extra"])}
    assert all(c.is_lineage_unknown and c.review_status == "pending" and c.version == version for c in clips)
    assert all(c.file.name.startswith(f"clone_responses/{voice.pk}/legacy_") for c in clips)
    assert all(c.analysed_at is not None for c in clips)
    assert GeneratedAudio.objects.filter(sha256__in=[c.sha256 for c in clips]).count() == 4
    # The voiceclone voice got its reply too.
    assert ClipSample.objects.get(sha256=sha(legacy["ours_reply"])).voice == legacy["ours"]

    # Users' speech never becomes a clip, wherever it sits in the tree.
    assert not ClipSample.objects.filter(sha256__in=[sha(s) for s in legacy["speech"]]).exists()

    # The confirmed recordings at the provider are her originals, with a staff-confirmed consent record.
    originals = ClipSample.objects.filter(voice=voice, source="original")
    assert {c.sha256 for c in originals} == {sha(o) for o in legacy["originals"]}
    consent = originals.first().consent
    assert consent.method == ConsentRecord.Method.STAFF_CONFIRMED and consent.speaker_name == "Margaret Smith"
    assert "Confirmed by her daughter" in consent.statement_text and consent.statement_version

    record = ForeignProviderVoice.objects.get(provider_voice_id=legacy["unused"])
    assert record.is_deletable and record.marked_by == staff
    assert not ForeignProviderVoice.objects.filter(provider_voice_id=legacy["kept"]).exists()

    after = snapshot()
    with run_tasks():
        report = run(root, "--apply", "--owner", "staff", "--mark-deletable", legacy["unused"])
    assert "Nothing to change: everything was imported before." in report
    assert snapshot() == after

    data = json.loads(run(root, "--json"))
    assert data["clips"]["already_imported"] == 5 and "import" not in data["clips"]
    assert data["adopted"] == 0
    assert sorted(v["action"] for v in data["voices"]) == ["missing", "owned", "owned"]


def test_unconfirmed_recordings_are_not_imported_and_imported_clips_need_staff_approval(legacy, staff, run_tasks):
    (legacy["root"] / "consent" / f"{legacy['grandma']}.txt").unlink()
    with run_tasks():
        report = run(legacy["root"], "--apply", "--owner", "staff")
    assert "its recordings are NOT imported as originals" in report
    voice = VoiceVersion.objects.get(provider_voice_id=legacy["grandma"]).voice
    assert not voice.clips.filter(source="original").exists()
    # Without originals nothing generated is ever selected; the re-clone has nothing to work from either.
    assert select_clips_for_retrain(voice=voice).generated == []

    # Confirmed later: a rerun adds the originals, and a clip staff approve becomes selectable.
    with run_tasks():
        report = run(legacy["root"], "--apply", "--owner", "staff", "--originals-confirmed", legacy["grandma"])
    assert "0 voice(s) adopted, 0 clip(s) imported, 2 original(s) added" in report
    clip = voice.clips.filter(source="generated").order_by("pk").first()
    assert clip.pk not in select_clips_for_retrain(voice=voice).clip_ids
    clip_review(clip=clip, reviewer=staff, status="approved")
    assert clip.pk in select_clips_for_retrain(voice=voice).clip_ids


def test_the_slot_planner_frees_a_foreign_voice_marked_deletable(legacy, staff, emulator_ctl, run_tasks):
    with run_tasks():
        run(legacy["root"], "--apply", "--owner", "staff", "--mark-deletable", legacy["unused"])
    voice = VoiceVersion.objects.get(provider_voice_id=legacy["grandma"]).voice
    fill_account(emulator_ctl, up_to=30)
    assert len(emulator_ctl.voice_ids()) == 30

    run_ = retrain_run_propose(voice=voice, proposed_by=staff, strategy=RetrainRun.Strategy.ORIGINALS_ONLY)
    assert run_.quota_snapshot["will_find_slot"] is True  # the marked foreign voice counts as freeable
    with run_tasks():
        retrain_run_approve(run=run_, by=staff)
    run_.refresh_from_db()
    assert run_.state == RetrainRun.State.CANDIDATE, run_.failure_message
    assert legacy["unused"] not in emulator_ctl.voice_ids()
    assert legacy["kept"] in emulator_ctl.voice_ids()  # never marked: never touched
    assert ForeignProviderVoice.objects.get(provider_voice_id=legacy["unused"]).deleted_at is not None


def test_the_admin_lists_foreign_voices_and_adopts_or_marks_them(legacy, client, staff, run_tasks):
    client.force_login(staff)
    url = "/admin/retraining/retrainrun/provider-voices/"
    page = client.get(url).content.decode()
    for key in ("grandma", "unused", "kept"):
        assert legacy[key] in page
    assert legacy["ours"].current_version.provider_voice_id not in page  # owned by a version: not foreign

    response = client.post(url, {"provider_voice_id": legacy["kept"], "action": "mark_deletable"})
    assert response.status_code == 302
    assert ForeignProviderVoice.objects.get(provider_voice_id=legacy["kept"]).is_deletable
    assert "deletable (marked by staff)" in client.get(url).content.decode()
    client.post(url, {"provider_voice_id": legacy["kept"], "action": "unmark_deletable"})
    assert not ForeignProviderVoice.objects.get(provider_voice_id=legacy["kept"]).is_deletable

    with run_tasks():
        response = client.post(url, {"provider_voice_id": legacy["grandma"], "action": "adopt",
                                     "originals_confirmed": "1"})
    voice = VoiceVersion.objects.get(provider_voice_id=legacy["grandma"]).voice
    assert response["Location"] == f"/admin/clones/voice/{voice.pk}/change/"
    assert voice.owner == staff and voice.clips.filter(source="original").count() == 2
    assert legacy["grandma"] not in client.get(url).content.decode()
