"""Clip review in the Django admin: the changelist, bulk actions, detail page, review queue, access."""

import json

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from clones.models import ClipSample
from clones.waveform import waveform_path
from retraining.models import RetrainRun, RetrainRunClip
from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory
from tests.served_audio import served

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/clones/clipsample/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_filters_a_voices_pending_clips_plays_one_and_bulk_approves_ten(staff, staff_client):
    voice = VoiceFactory(name="Ada")
    pending = [ClipSampleFactory(voice=voice, text=f"Pending reply {i}") for i in range(12)]
    approved = [ClipSampleFactory(voice=voice, review_status="approved") for _ in range(3)]
    ClipSampleFactory(voice=voice, source="original", review_status="approved")
    others = [ClipSampleFactory() for _ in range(4)]

    response = staff_client.get(CHANGELIST, {"voice": str(voice.pk), "source__exact": "generated",
                                             "review_status__exact": "pending"})

    assert response.status_code == 200
    shown = {clip.pk for clip in response.context["cl"].result_list}
    assert shown == {c.pk for c in pending}
    html = response.content.decode()
    audio_url = reverse("admin:clones_clipsample_audio", args=[pending[0].pk])
    assert f'<audio class="clip-player" controls preload="none" src="{audio_url}">' in html
    assert reverse("admin:clones_clipsample_waveform", args=[pending[0].pk]) in html
    assert "Pending reply 0" in html

    # Play one: the player's source streams the stored MP3, with HTTP Range for seeking.
    played = served(staff_client.get(audio_url))
    assert played.status == 200
    assert played.headers["content-type"] == "audio/mpeg"
    assert played.body == default_storage.open(pending[0].file.name).read()
    ranged = served(staff_client.get(audio_url, HTTP_RANGE="bytes=0-9"), range_header="bytes=0-9")
    assert ranged.status == 206 and len(ranged.body) == 10

    chosen = [c.pk for c in pending[:10]]
    response = staff_client.post(
        CHANGELIST + f"?voice={voice.pk}&source__exact=generated&review_status__exact=pending",
        {"action": "approve_clips", "_selected_action": chosen, "index": 0},
    )

    assert response.status_code == 302
    assert set(ClipSample.objects.filter(pk__in=chosen).values_list("review_status", flat=True)) == {"approved"}
    assert all(c.reviewed_by == staff for c in ClipSample.objects.filter(pk__in=chosen))
    assert ClipSample.objects.filter(pk__in=[c.pk for c in pending[10:]], review_status="pending").count() == 2
    assert ClipSample.objects.filter(pk__in=[c.pk for c in others], review_status="pending").count() == 4
    assert ClipSample.objects.filter(pk__in=[c.pk for c in approved], reviewed_by=None).count() == 3


def test_reject_action_asks_for_a_reason_first(staff_client):
    clips = [ClipSampleFactory() for _ in range(3)]
    ids = [c.pk for c in clips]

    page = staff_client.post(CHANGELIST, {"action": "reject_clips", "_selected_action": ids, "index": 0})
    assert page.status_code == 200
    assert b"Reject <strong>3</strong> clips" in page.content
    assert ClipSample.objects.filter(pk__in=ids, review_status="pending").count() == 3

    missing = staff_client.post(CHANGELIST, {"action": "reject_clips", "_selected_action": ids, "apply": "1",
                                             "reason_code": "", "reason": ""})
    assert missing.status_code == 200
    assert b"Pick a reason or write one" in missing.content
    assert ClipSample.objects.filter(pk__in=ids, review_status="pending").count() == 3

    done = staff_client.post(CHANGELIST, {"action": "reject_clips", "_selected_action": ids[:2], "apply": "1",
                                          "reason_code": "wrong_voice", "reason": "sounds like a robot"})
    assert done.status_code == 302
    rejected = ClipSample.objects.filter(pk__in=ids[:2])
    assert {c.review_status for c in rejected} == {"rejected"}
    assert all(c.review_reason.startswith("wrong_voice: ") and "robot" in c.review_reason for c in rejected)
    assert ClipSample.objects.get(pk=ids[2]).review_status == "pending"


def test_reanalyse_and_back_to_pending_actions(staff_client, run_tasks):
    clip = ClipSampleFactory(analysed_at=None, quality_score=None, review_status="approved")
    if default_storage.exists(waveform_path(clip)):  # media outlives the test database within a run
        default_storage.delete(waveform_path(clip))
    with run_tasks():
        response = staff_client.post(CHANGELIST, {"action": "reanalyse_clips", "_selected_action": [clip.pk],
                                                  "index": 0})
    assert response.status_code == 302
    clip.refresh_from_db()
    assert clip.analysed_at is not None and clip.quality_score is not None
    assert default_storage.exists(waveform_path(clip))

    staff_client.post(CHANGELIST, {"action": "mark_pending", "_selected_action": [clip.pk], "index": 0})
    clip.refresh_from_db()
    assert clip.review_status == "pending" and clip.reviewed_by is None


def test_filters_by_quality_flag_usage_date_and_text_search(staff_client):
    voice = VoiceFactory()
    clipped = ClipSampleFactory(voice=voice, quality_flags=["clipped", "too_loud"], quality_score=40)
    quiet = ClipSampleFactory(voice=voice, quality_flags=["too_quiet"], quality_score=75)
    clean = ClipSampleFactory(voice=voice, text="Sourdough needs a patient starter.")
    used = ClipSampleFactory(voice=voice, review_status="approved")
    RetrainRunClip.objects.create(run=RetrainRun.objects.create(voice=voice, state="promoted"), clip=used,
                                  role="generated")

    def shown(**params):
        response = staff_client.get(CHANGELIST, params)
        assert response.status_code == 200
        return {clip.pk for clip in response.context["cl"].result_list}

    assert shown(flag="clipped") == {clipped.pk}
    assert shown(flag="any") == {clipped.pk, quiet.pk}
    assert shown(flag="none") == {clean.pk, used.pk}
    assert shown(used="yes") == {used.pk}
    assert shown(used="no") == {clipped.pk, quiet.pk, clean.pk}
    assert shown(q="sourdough") == {clean.pk}
    assert shown(**{"created_at__gte": "2000-01-01T00:00:00+00:00"}) == {clipped.pk, quiet.pk, clean.pk, used.pk}
    page = staff_client.get(CHANGELIST, {"used": "yes"}).content.decode()
    assert "in 1 run<" in page


def test_the_changelist_issues_a_bounded_number_of_queries(staff_client, django_assert_max_num_queries):
    def make(count):
        voice = VoiceFactory()
        conversation = ConversationFactory(voice=voice)
        run = RetrainRun.objects.create(voice=voice, state="promoted")
        for i in range(count):
            clip = ClipSampleFactory(voice=voice, conversation=conversation if i % 2 else None,
                                     quality_flags=["noisy"] if i % 3 == 0 else [])
            if i % 4 == 0:
                RetrainRunClip.objects.create(run=run, clip=clip, role="generated")

    make(3)
    with django_assert_max_num_queries(12) as few:
        assert staff_client.get(CHANGELIST).status_code == 200
    make(60)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = staff_client.get(CHANGELIST)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 50
    with django_assert_max_num_queries(len(few.captured_queries) + 1):
        assert staff_client.get(CHANGELIST, {"used": "no", "flag": "noisy", "review_status__exact": "pending",
                                             "q": "Reply"}).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_detail_page_shows_the_large_waveform_and_reviews_through_the_service(staff, staff_client):
    conversation = ConversationFactory()
    clip = ClipSampleFactory(voice=conversation.voice, conversation=conversation, text="Hello from the bakery.")
    url = reverse("admin:clones_clipsample_change", args=[clip.pk])

    page = staff_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="clip-waveform-large"' in html
    assert "clip-player-large" in html
    assert "Hello from the bakery." in html
    assert str(conversation.pk) in html

    response = staff_client.post(url, {"review_status": "rejected", "review_reason": ""})
    assert response.status_code == 200  # the form asks for a reason
    clip.refresh_from_db()
    assert clip.review_status == "pending"

    response = staff_client.post(url, {"review_status": "approved", "review_reason": ""})
    assert response.status_code == 302
    clip.refresh_from_db()
    assert clip.review_status == "approved" and clip.reviewed_by == staff and clip.reviewed_at


def test_waveform_image_is_rendered_on_demand_and_cached(staff_client):
    clip = ClipSampleFactory(analysed_at=None)
    if default_storage.exists(waveform_path(clip)):  # media outlives the test database within a run
        default_storage.delete(waveform_path(clip))

    response = staff_client.get(reverse("admin:clones_clipsample_waveform", args=[clip.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<svg")
    assert "script-src" not in response["Content-Security-Policy"]
    assert default_storage.exists(waveform_path(clip))


def test_non_staff_cannot_reach_any_clip(client, alice):
    clip = ClipSampleFactory(voice=VoiceFactory(owner=alice))
    urls = [
        CHANGELIST,
        reverse("admin:clones_clipsample_change", args=[clip.pk]),
        reverse("admin:clones_clipsample_audio", args=[clip.pk]),
        reverse("admin:clones_clipsample_waveform", args=[clip.pk]),
        reverse("admin:clones_clipsample_queue"),
    ]
    for who in (None, alice):  # anonymous, then the voice's own (non-staff) owner
        if who is not None:
            client.force_login(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, url
            assert "/admin/login/" in response["Location"]
        response = client.post(reverse("admin:clones_clipsample_queue_review", args=[clip.pk]), {"status": "approved"})
        assert response.status_code == 302
        response = client.post(CHANGELIST, {"action": "approve_clips", "_selected_action": [clip.pk], "index": 0})
        assert response.status_code == 302
    clip.refresh_from_db()
    assert clip.review_status == "pending"


def test_review_queue_puts_what_a_retrain_would_pick_first_and_reviews_by_keyboard(staff, staff_client):
    voice = VoiceFactory()
    ClipSampleFactory(voice=voice, source="original", duration_s=60, review_status="approved", text="")
    not_analysed = ClipSampleFactory(voice=voice, analysed_at=None, quality_score=None, text="Unheard so far.")
    borderline = ClipSampleFactory(voice=voice, quality_flags=["noisy"], quality_score=89, snr_db=14.5,
                                   text="A bit of hiss in this one.")
    would_pick = ClipSampleFactory(voice=voice, text="A clean, lively answer!")

    page = staff_client.get(reverse("admin:clones_clipsample_queue"), {"voice": str(voice.pk)})

    assert page.status_code == 200
    data = json.loads(json.dumps(page.context["queue_data"]))  # what the page hands its script
    assert [item["id"] for item in data["items"]] == [would_pick.pk, borderline.pk, not_analysed.pk]
    assert "retrain would pick" in data["items"][0]["reason"]
    html = page.content.decode()
    assert 'id="clip-queue-data"' in html and "queue.js" in html
    assert "<kbd>a</kbd> approve" in html

    review_url = data["items"][0]["review_url"]
    response = staff_client.post(review_url, {"status": "approved"})
    assert response.status_code == 200 and response.json()["review_status"] == "approved"
    response = staff_client.post(data["items"][1]["review_url"], {"status": "rejected", "reason": ""})
    assert response.status_code == 400 and "why" in response.json()["detail"]
    response = staff_client.post(data["items"][1]["review_url"], {"status": "rejected", "reason": "noise"})
    assert response.json()["review_reason"].startswith("noise:")
    would_pick.refresh_from_db()
    borderline.refresh_from_db()
    assert would_pick.review_status == "approved" and would_pick.reviewed_by == staff
    assert borderline.review_status == "rejected"

    # Reviewed clips leave the queue.
    again = staff_client.get(reverse("admin:clones_clipsample_queue"), {"voice": str(voice.pk)})
    assert [item["id"] for item in again.context["queue_data"]["items"]] == [not_analysed.pk]


def test_clip_admin_offers_no_add_or_delete(staff_client):
    clip = ClipSampleFactory()
    assert staff_client.get("/admin/clones/clipsample/add/").status_code == 403
    assert staff_client.get(reverse("admin:clones_clipsample_delete", args=[clip.pk])).status_code == 403
    assert ClipSample.objects.filter(pk=clip.pk).exists()
