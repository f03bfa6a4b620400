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

    # The originals, the best candidates' ids (ranked from the index alone), their rows with their
    # conversation; the exclusion counts, one aggregate, only when they are read.
    assert many == few == capped == 3
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


def varied_pool(voice, count, *, start=0):
    """Approved candidates of every merit shape: quality with ties and unknown scores, lengths around the
    sweet spot (all ≤ 15 s), lineage depth 1–2, some of unknown lineage, in three conversations."""
    conversations = [ConversationFactory(voice=voice) for _ in range(3)]
    for i in range(start, start + count):
        ClipSampleFactory(
            voice=voice, review_status="approved", conversation=conversations[i % 3],
            quality_score=(100.0, 95.0, 90.0, None, 100.0)[i % 5], duration_s=(2.5, 3.3, 6.0, 14.5, 9.0, 4.0)[i % 6],
            lineage_depth=1 + (i % 7 == 0), is_lineage_unknown=(i % 11 == 0),
            text=f"Distinct words {i} " + " ".join(f"w{i}x{k}" for k in range(i % 4 + 2)) + "?!."[i % 3],
            pitch_median_hz=120 + (i * 37) % 90, speaking_rate_cps=10 + (i * 13) % 7,
        )


def test_ranking_through_the_index_picks_what_ranking_the_whole_pool_picks(settings):
    """The merit index ranks by the whole duration; the selection ranks by the seconds it uses. With
    every clip shorter than both use limits the two are the same rule: RETRAIN_CLIP_MAX_USE_S 25 ranks
    through `clip_selection_rank_idx` (ORDER BY its key, LIMIT), 15 ranks by the expression over
    LEAST(duration, 15), which no index holds (PostgreSQL sorts the pool). Same picks, same counts."""
    voice = VoiceFactory()
    for _ in range(2):
        ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=30, text="")
    varied_pool(voice, 45)
    settings.RETRAIN_GENERATED_SHARE_MAX = 0.5
    settings.RETRAIN_MAX_CLIPS_PER_CONVERSATION_SHARE = 0.5
    results = {}
    for max_use_s, cap in ((25.0, 12), (15.0, 12), (25.0, 3000), (15.0, 3000)):
        settings.RETRAIN_CLIP_MAX_USE_S = max_use_s
        settings.RETRAIN_SELECTION_MAX_CANDIDATES = cap
        selection = select_clips_for_retrain(voice=voice)
        results[max_use_s, cap] = ([(c.clip_id, c.use_s, c.rank_score) for c in selection.generated],
                                   selection.excluded)

    assert results[25.0, 12] == results[15.0, 12]
    assert results[25.0, 3000] == results[15.0, 3000]
    picks, excluded = results[25.0, 12]
    assert len(picks) >= 3
    # Cut to the best 12 by merit, the other 33 counted as over budget and never read; all 45 read when
    # uncapped (the share cap, not the budget, then binds).
    assert excluded["over_budget"] == 45 - 12
    assert results[25.0, 3000][1]["over_budget"] == 0


def test_review_queue_queries_do_not_grow_with_voices_or_clips_and_keep_each_voices_picks():
    from clones.services.review_queue import TIER_RETRAIN_PICK, review_queue_order

    def with_originals():
        voice = VoiceFactory()
        ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=60, text="")
        return voice

    def queue_queries():
        with CaptureQueriesContext(connection) as captured:
            queue = review_queue_order(limit=50)
        return len(captured.captured_queries), queue

    def clean_pending(voice, count, start):
        for i in range(start, start + count):
            ClipSampleFactory(voice=voice, review_status="pending", duration_s=3.0 + i % 9,
                              quality_score=(100.0, 92.0, 85.0)[i % 3], text=f"Pending words {i} " + f"v{i} " * (i % 4))

    first = with_originals()
    grow(first, 8)
    clean_pending(first, 4, 0)
    few, _ = queue_queries()
    voices = [first, with_originals(), with_originals()]
    grow(first, 24, start=8)
    clean_pending(first, 4, 4)
    for n, voice in enumerate(voices[1:]):
        grow(voice, 16)
        clean_pending(voice, 3 + n, 10 * (n + 1))
    many, queue = queue_queries()

    assert many == few
    # The picks shown first are each voice's own selection as a retrain would make it with the pending
    # clips approved, voice by voice, in its order, pending ones only.
    expected = []
    for voice in sorted(voices, key=lambda v: (-v.clips.filter(review_status="pending").count(), v.pk)):
        selection = select_clips_for_retrain(voice=voice, include_pending=True)
        pending = set(voice.clips.filter(review_status="pending").values_list("pk", flat=True))
        expected += [c.clip_id for c in selection.generated if c.clip_id in pending]
    shown = [clip.pk for clip in queue if clip.queue_tier == TIER_RETRAIN_PICK]
    assert shown and shown == expected[:len(shown)]


def test_queue_page_voice_filter_counts_pending_clips_per_voice(staff_client):
    busy, quiet = VoiceFactory(name="Busy"), VoiceFactory(name="Quiet")
    for i in range(3):
        ClipSampleFactory(voice=busy, review_status="pending")
    ClipSampleFactory(voice=quiet, review_status="pending")
    ClipSampleFactory(voice=quiet, review_status="approved")

    response = staff_client.get("/admin/clones/clipsample/queue/")

    assert [(row["voice__name"], row["n"]) for row in response.context["pending_voices"]] == [("Busy", 3), ("Quiet", 1)]
