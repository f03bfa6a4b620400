"""A voice gathers originals in batches over time, so it may hold more than VOICE_MAX_SAMPLES: its kit imports
with every original kept, and every provider clone of it (the import's creation, an originals-only re-clone)
takes at most VOICE_MAX_SAMPLES of them by one stated rule: not retired, oldest first (docs/voice-kits.md).
VOICE_MAX_SAMPLES is 3 here so the voice needs few recordings; the rule is the same at 25."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from clones.models import ClipSample, Voice
from tests.audio import wav_bytes
from tests.kits.helpers import export_kit, import_kit, kit_upload, read_kit
from voiceclone.events.models import Event

pytestmark = pytest.mark.django_db


def _add_originals(api, voice_id, seeds, run_tasks):
    files = [SimpleUploadedFile(f"more{s}.wav", wav_bytes(3 + s % 3, seed=s), content_type="audio/wav") for s in seeds]
    with run_tasks():
        response = api.post(f"/api/v1/voices/{voice_id}/originals/", {"samples": files, "consent": "true"},
                            format="multipart")
    assert response.status_code == 202, response.content


def _creates_of(emulator_ctl, voice_pk) -> list[dict]:
    marker = f"voiceclone:{voice_pk}:v1"
    return [r for r in emulator_ctl.requests(path=r"^/v1/voices/add$", method="POST")
            if (r.get("fields") or {}).get("description") == marker]


@pytest.fixture
def big_kit(settings, alice_api, alice_voice, run_tasks):
    """The kit of a voice with 5 originals (2 at creation, then two batches), VOICE_MAX_SAMPLES = 3."""
    settings.VOICE_MAX_SAMPLES = 3
    _add_originals(alice_api, alice_voice, [11, 12], run_tasks)
    _add_originals(alice_api, alice_voice, [13], run_tasks)
    data = export_kit(alice_api, alice_voice)
    assert sum(1 for name in read_kit(data) if name.startswith("originals/")) == 5
    return data


def test_a_kit_with_more_originals_than_one_clone_takes_imports_them_all(bob_api, big_kit, run_tasks, emulator_ctl,
                                                                        settings):
    response = import_kit(bob_api, big_kit, run_tasks)
    assert response.status_code == 202, response.content
    voice = Voice.objects.get(pk=response.json()["voice"]["id"])
    assert voice.status == Voice.Status.READY, voice.failure_reason

    originals = list(voice.clips.filter(source=ClipSample.Source.ORIGINAL).order_by("created_at", "id"))
    assert len(originals) == 5  # every original is kept
    listing = bob_api.get(f"/api/v1/voices/{voice.pk}/originals/").json()
    assert len(listing) == 5

    # The provider clone got VOICE_MAX_SAMPLES files: the oldest three originals, in the kit's order.
    (create,) = _creates_of(emulator_ctl, voice.pk)
    assert len(create["files"]) == settings.VOICE_MAX_SAMPLES == 3
    assert [f["sha256"] for f in create["files"]] == [c.sha256 for c in originals[:3]]
    ready = Event.objects.get(voice=voice, type="voice.ready")
    assert ready.payload["originals_used"] == [c.pk for c in originals[:3]]
    assert ready.payload["originals_total"] == 5


def test_the_import_page_takes_a_kit_with_many_originals(client, bob, big_kit, run_tasks):
    client.force_login(bob)
    with run_tasks():
        response = client.post("/voices/import/", {"kit": kit_upload(big_kit), "consent": "on"})
    assert response.status_code in (200, 302), response.content[:500]
    voice = Voice.objects.get(owner=bob)
    assert voice.status == Voice.Status.READY, voice.failure_reason
    assert voice.clips.filter(source=ClipSample.Source.ORIGINAL).count() == 5


def test_a_reclone_takes_the_same_rule_and_skips_retired_originals(bob_api, staff_api, big_kit, run_tasks,
                                                                   emulator_ctl):
    response = import_kit(bob_api, big_kit, run_tasks)
    voice = Voice.objects.get(pk=response.json()["voice"]["id"])
    originals = list(voice.clips.filter(source=ClipSample.Source.ORIGINAL).order_by("created_at", "id"))
    retired = bob_api.post(f"/api/v1/voices/{voice.pk}/originals/{originals[0].pk}/retire/")
    assert retired.status_code == 200, retired.content

    response = staff_api.post("/api/v1/retrain-runs/", {"voice": str(voice.pk), "strategy": "originals_only"},
                              format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    # Not retired, oldest first, at most VOICE_MAX_SAMPLES: originals 2, 3 and 4; the fifth waits its turn.
    assert [c["clip"] for c in run["clips"]] == [c.pk for c in originals[1:4]]
    with run_tasks():
        assert staff_api.post(f"/api/v1/retrain-runs/{run['id']}/approve/").status_code == 202
    creates = [r for r in emulator_ctl.requests(path=r"^/v1/voices/add$", method="POST")
               if str((r.get("fields") or {}).get("description", "")).startswith("voiceclone-run-")]
    assert [len(r["files"]) for r in creates] == [3]
