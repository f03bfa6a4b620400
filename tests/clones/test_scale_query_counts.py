"""Staff reads stay flat as clips grow (issue 13 item 4): the query count of the clip changelist with every
filter and search, the staff clips API and the retrain selection does not depend on how many clips exist.

Times are measured by bench/scale.py, never here; these tests pin the shapes that make the times hold.
"""

import pytest
from django.test.utils import CaptureQueriesContext
from django.db import connection
from django.urls import reverse

from clones.services import select_clips_for_retrain
from retraining.models import RetrainRun, RetrainRunClip
from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/clones/clipsample/"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def grow(voice, count, *, start=0):
    """`count` generated clips of `voice` in every shape the screens show: pending, approved, rejected,
    flagged, spoken in conversations, used by a promoted run and by a rejected one."""
    conversations = [ConversationFactory(voice=voice) for _ in range(3)]
    promoted = RetrainRun.objects.create(voice=voice, state="promoted")
    rejected = RetrainRun.objects.create(voice=voice, state="rejected")
    clips = []
    for i in range(start, start + count):
        clip = ClipSampleFactory(
            voice=voice, conversation=conversations[i % 3] if i % 2 else None,
            review_status=("pending", "approved", "approved", "rejected")[i % 4],
            quality_flags=[["noisy"], [], ["clipped", "too_loud"], []][i % 4], text=f"Crusty loaf number {i}.",
            duration_s=3.0 + i % 9,
        )
        if i % 5 == 0:
            RetrainRunClip.objects.create(run=promoted if i % 2 else rejected, clip=clip, role="generated")
        clips.append(clip)
    return clips


def queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content[:300]
    return len(captured.captured_queries)


def test_changelist_queries_do_not_grow_with_clips_for_any_filter_or_search(staff_client):
    voice = VoiceFactory()
    first = grow(voice, 4)
    pages = [
        {}, {"voice": str(voice.pk)}, {"source__exact": "generated"}, {"review_status__exact": "pending"},
        {"flag": "clipped"}, {"flag": "none"}, {"flag": "any"}, {"used": "yes"}, {"used": "no"},
        {"analysed": "no"}, {"used": "no", "review_status__exact": "approved"}, {"q": "crusty"},
        {"q": first[0].sha256}, {"created_at__gte": "2000-01-01T00:00:00+00:00"},
    ]
    few = [queries(staff_client, CHANGELIST, p) for p in pages]
    grow(voice, 56, start=4)
    grow(VoiceFactory(), 20)
    many = [queries(staff_client, CHANGELIST, p) for p in pages]

    assert many == few
    assert max(many) <= 8


def test_changelist_search_finds_a_clip_by_its_hash_in_either_case_and_text_by_substring(staff_client):
    voice = VoiceFactory()
    clips = grow(voice, 8)
    target = ClipSampleFactory(voice=voice, audio=b"ID3 other bytes", text="Rye and honey.")

    def shown(q):
        response = staff_client.get(CHANGELIST, {"q": q})
        assert response.status_code == 200
        return {clip.pk for clip in response.context["cl"].result_list}

    assert shown(target.sha256) == {target.pk}
    assert shown(target.sha256.upper()) == {target.pk}
    assert shown("honey") == {target.pk}
    assert shown("LOAF NUMBER 3") == {clips[3].pk}


def test_changelist_flag_filter_matches_whole_flags_only(staff_client):
    voice = VoiceFactory()
    loud = ClipSampleFactory(voice=voice, quality_flags=["too_loud"])
    both = ClipSampleFactory(voice=voice, quality_flags=["clipped", "too_loud"])
    ClipSampleFactory(voice=voice, quality_flags=["too_quiet"])
    ClipSampleFactory(voice=voice, quality_flags=[])

    def shown(flag):
        return {c.pk for c in staff_client.get(CHANGELIST, {"flag": flag}).context["cl"].result_list}

    assert shown("too_loud") == {loud.pk, both.pk}
    assert shown("clipped") == {both.pk}
    assert shown("undecodable") == set()


def test_staff_clips_api_queries_do_not_grow_with_clips(staff_api):
    voice = VoiceFactory()
    grow(voice, 4)
    filters = [{}, {"voice": str(voice.pk), "review_status": "pending"}, {"flag": "clipped"},
               {"used": "false", "review_status": "approved"}, {"q": "crusty"}]
    few = [queries(staff_api, "/api/v1/clips/", f) for f in filters]
    grow(voice, 56, start=4)
    many = [queries(staff_api, "/api/v1/clips/", f) for f in filters]

    assert many == few
    response = staff_api.get("/api/v1/clips/", {"used": "true"})
    assert {c["is_used"] for c in response.json()["results"]} == {True}


def selection_queries(voice) -> tuple[int, int, object]:
    """(queries of the selection, queries of reading its exclusion counts afterwards, the selection)."""
    with CaptureQueriesContext(connection) as captured:
        selection = select_clips_for_retrain(voice=voice)
    with CaptureQueriesContext(connection) as counted:
        assert selection.excluded
    return len(captured.captured_queries), len(counted.captured_queries), selection


def test_selection_queries_do_not_grow_with_candidates(settings):
    voice = VoiceFactory()
    for _ in range(3):
        ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=30, text="")
    grow(voice, 8)
    few, few_counts, _ = selection_queries(voice)
    grow(voice, 40, start=8)
    many, many_counts, selection = selection_queries(voice)
    # Past the candidate cap the best are still read by one ranked query (ORDER BY merit LIMIT n).
    settings.RETRAIN_SELECTION_MAX_CANDIDATES = 5
    capped, capped_counts, capped_selection = selection_queries(voice)

    # The originals and the best candidates with their conversation; the exclusion counts, one aggregate,
    # only when they are read.
    assert many == few == capped == 2
    assert many_counts == few_counts == capped_counts == 1
    assert selection.generated
    excluded = capped_selection.excluded
    assert excluded["over_budget"] > 0
    # Every generated clip is still counted exactly once, selected or under one reason.
    generated = voice.clips.filter(source="generated").count()
    assert len(capped_selection.generated) + sum(excluded.values()) == generated
    assert len(selection.generated) + sum(selection.excluded.values()) == generated


def test_selection_keeps_the_best_candidates_by_merit_when_it_must_cut(settings):
    settings.RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE = 1.0
    voice = VoiceFactory()
    ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=60, text="")
    poor = [ClipSampleFactory(voice=voice, review_status="approved", quality_score=60, text=f"Plain bread {i}.")
            for i in range(6)]
    best = [ClipSampleFactory(voice=voice, review_status="approved", quality_score=100 - i,
                              text=f"Unique words {i} {'x' * i}.") for i in range(3)]
    settings.RETRAIN_SELECTION_MAX_CANDIDATES = 3

    selection = select_clips_for_retrain(voice=voice)

    assert {c.clip_id for c in selection.generated} <= {c.pk for c in best}
    assert selection.excluded["over_budget"] >= len(poor)


def test_voice_admin_page_does_not_run_the_selection(staff_client):
    voice = VoiceFactory()
    ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=30, text="")
    grow(voice, 4)
    url = reverse("admin:clones_voice_change", args=[voice.pk])
    few = queries(staff_client, url)
    grow(voice, 30, start=4)
    with CaptureQueriesContext(connection) as captured:
        html = staff_client.get(url).content.decode()

    assert len(captured.captured_queries) == few
    # The selection reads the run links (what is used); the voice page only links to it.
    assert not [q for q in captured.captured_queries if "retrainrunclip" in q["sql"]]
    assert reverse("admin:clones_voice_retrain_selection", args=[voice.pk]) in html
