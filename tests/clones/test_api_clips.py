"""The staff review API for clips: filters, cursor pagination, review one, review many; nobody else gets in."""

from datetime import timedelta

import pytest
from django.utils import timezone

from clones.models import ClipSample
from retraining.models import RetrainRun, RetrainRunClip
from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory
from tests.served_audio import served

pytestmark = pytest.mark.django_db


@pytest.fixture
def voice(alice):
    return VoiceFactory(owner=alice)


def test_non_staff_get_403_on_the_list_and_404_on_clips(alice_api, bob_api, voice):
    clip = ClipSampleFactory(voice=voice)
    for api in (alice_api, bob_api):  # not even the voice's owner
        assert api.get("/api/v1/clips/").status_code == 403
        assert api.post("/api/v1/clips/bulk-review/", {"ids": [clip.pk], "status": "approved"},
                        format="json").status_code == 403
        assert api.get(f"/api/v1/clips/{clip.pk}/").status_code == 404
        assert api.get(f"/api/v1/clips/{clip.pk}/audio/").status_code == 404
        response = api.post(f"/api/v1/clips/{clip.pk}/review/", {"status": "approved"}, format="json")
        assert response.status_code == 404
    clip.refresh_from_db()
    assert clip.review_status == "pending"


def test_anonymous_callers_are_refused(client, voice):
    clip = ClipSampleFactory(voice=voice)
    assert client.get("/api/v1/clips/").status_code in (401, 403)
    assert client.get(f"/api/v1/clips/{clip.pk}/").status_code in (401, 403)


def test_staff_list_filters_and_paginates_with_a_cursor(staff_api, voice):
    conversation = ConversationFactory(voice=voice)
    pending = [ClipSampleFactory(voice=voice, conversation=conversation) for _ in range(5)]
    approved = ClipSampleFactory(voice=voice, review_status="approved")
    clipped = ClipSampleFactory(voice=voice, quality_flags=["clipped"], quality_score=50, text="Too loud here")
    original = ClipSampleFactory(voice=voice, source="original", review_status="approved")
    other = ClipSampleFactory()
    old = ClipSampleFactory(voice=voice)
    ClipSample.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=60))
    used = ClipSampleFactory(voice=voice, review_status="approved")
    run = RetrainRun.objects.create(voice=voice, state="promoted")
    RetrainRunClip.objects.create(run=run, clip=used, role="generated")

    def ids(**params):
        response = staff_api.get("/api/v1/clips/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(voice=str(voice.pk), source="generated", review_status="pending") == (
        {c.pk for c in pending} | {clipped.pk, old.pk}
    )
    assert ids(review_status="approved", source="generated") == {approved.pk, used.pk}
    assert ids(flag="clipped") == {clipped.pk}
    assert clipped.pk not in ids(flag="none") and approved.pk in ids(flag="none")
    assert ids(used="true") == {used.pk}
    assert used.pk not in ids(used="false", voice=str(voice.pk))
    assert ids(q="too loud") == {clipped.pk}
    assert ids(source="original") == {original.pk}
    assert old.pk not in ids(created_after=(timezone.now() - timedelta(days=30)).isoformat())
    assert other.pk not in ids(voice=str(voice.pk))
    assert staff_api.get("/api/v1/clips/", {"flag": "bogus"}).status_code == 400

    body = staff_api.get("/api/v1/clips/", {"page_size": 4, "voice": str(voice.pk)}).json()
    assert len(body["results"]) == 4 and body["next"]
    seen = [row["id"] for row in body["results"]]
    while body["next"]:
        body = staff_api.get(body["next"]).json()
        seen += [row["id"] for row in body["results"]]
    assert len(seen) == len(set(seen)) == ClipSample.objects.filter(voice=voice).count()

    row = staff_api.get(f"/api/v1/clips/{used.pk}/").json()
    assert row["used_in_runs"] == 1 and row["is_used"] is True
    first = staff_api.get(f"/api/v1/clips/{pending[0].pk}/").json()
    assert first["conversation_id"] == str(conversation.pk)
    assert first["voice"] == str(voice.pk) and first["quality_flags"] == []
    assert first["audio_url"].endswith(f"/api/v1/clips/{pending[0].pk}/audio/")


def test_staff_review_one_clip_and_reject_needs_a_reason(staff, staff_api, voice):
    clip = ClipSampleFactory(voice=voice)

    response = staff_api.post(f"/api/v1/clips/{clip.pk}/review/", {"status": "rejected"}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["errors"]

    response = staff_api.post(f"/api/v1/clips/{clip.pk}/review/", {"status": "rejected", "reason": "artifacts"},
                              format="json")
    assert response.status_code == 200, response.content
    assert response.json()["review_status"] == "rejected"
    assert response.json()["reviewed_by"] == "staff"
    clip.refresh_from_db()
    assert clip.review_status == "rejected" and clip.reviewed_by == staff and clip.reviewed_at
    assert clip.review_reason.startswith("artifacts:")

    response = staff_api.post(f"/api/v1/clips/{clip.pk}/review/", {"status": "approved"}, format="json")
    assert response.json()["review_status"] == "approved"


def test_originals_are_not_reviewable(staff_api, voice):
    original = ClipSampleFactory(voice=voice, source="original", review_status="approved")
    response = staff_api.post(f"/api/v1/clips/{original.pk}/review/", {"status": "rejected", "reason": "x"},
                              format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "not_reviewable"
    original.refresh_from_db()
    assert original.review_status == "approved"


def test_bulk_review_updates_generated_clips_and_reports_skipped(staff, staff_api, voice):
    clips = [ClipSampleFactory(voice=voice) for _ in range(4)]
    original = ClipSampleFactory(voice=voice, source="original", review_status="approved")

    response = staff_api.post(
        "/api/v1/clips/bulk-review/",
        {"ids": [c.pk for c in clips] + [original.pk, 999999], "status": "approved"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"updated": 4, "skipped_ids": sorted([original.pk, 999999])}
    assert set(ClipSample.objects.filter(pk__in=[c.pk for c in clips]).values_list("review_status", flat=True)) == {
        "approved"}
    assert ClipSample.objects.get(pk=clips[0].pk).reviewed_by == staff

    response = staff_api.post("/api/v1/clips/bulk-review/", {"ids": [clips[0].pk], "status": "rejected"},
                              format="json")
    assert response.status_code == 400


def test_staff_can_stream_a_clip_with_range(staff_api, voice):
    clip = ClipSampleFactory(voice=voice)
    response = served(staff_api.get(f"/api/v1/clips/{clip.pk}/audio/", HTTP_RANGE="bytes=0-99"),
                      range_header="bytes=0-99")
    assert response.status == 206
    assert response.headers["content-type"] == "audio/mpeg"
    assert len(response.body) == 100


def test_reanalyse_enqueues_the_analysis_task(staff_api, voice, run_tasks):
    clip = ClipSampleFactory(voice=voice, analysed_at=None, quality_score=None)
    with run_tasks():
        response = staff_api.post(f"/api/v1/clips/{clip.pk}/reanalyse/")
    assert response.status_code == 202
    clip.refresh_from_db()
    assert clip.analysed_at is not None and clip.quality_score is not None


def test_the_schema_documents_the_clip_endpoints(staff_api):
    schema = staff_api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/clips/" in paths
    assert "/api/v1/clips/{id}/review/" in paths
    assert "/api/v1/clips/bulk-review/" in paths
