"""The selection service retraining calls: which clips a retrain of a voice would upload now."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from clones.models import ClipSample
from clones.services import EXCLUSION_REASONS, SelectionLimits, select_clips_for_retrain
from retraining.models import RetrainRun, RetrainRunClip
from tests.factories import ClipSampleFactory, ConversationFactory, VoiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def share_cap_of_the_worked_examples(settings):
    """The worked examples below are computed at a generated-share cap of 0.6 (room = 1.5 × the originals),
    a cap that gives round numbers; the default (0.3, from bench/fidelity.py) follows the same formula."""
    settings.RETRAIN_GENERATED_SHARE_MAX = 0.6

APPROVED = ClipSample.ReviewStatus.APPROVED


def distinct_text(i: int, ending: str = ".") -> str:
    """Words no other clip shares, so text similarity never reorders a test's ranking."""
    return f"alpha{i} bravo{i} charlie{i} delta{i}{ending}"


def originals(voice, seconds: list[float]):
    return [ClipSampleFactory(voice=voice, source="original", duration_s=s, review_status=APPROVED, text="")
            for s in seconds]


def make_used(clips, voice):
    run = RetrainRun.objects.create(voice=voice, state=RetrainRun.State.PROMOTED)
    RetrainRunClip.objects.bulk_create(
        RetrainRunClip(run=run, clip=c, role="generated", position=i) for i, c in enumerate(clips)
    )


def check_totals_add_up(selection, generated_count):
    assert len(selection.generated) + sum(selection.excluded.values()) == generated_count
    assert set(selection.excluded) == set(EXCLUSION_REASONS)


def test_sixty_approved_clips_with_used_rejected_and_old_ones_select_only_eligible_best_first():
    voice = VoiceFactory()
    originals_ = originals(voice, [20, 20, 20])
    conversations = [ConversationFactory(voice=voice) for _ in range(10)]
    clips = [
        ClipSampleFactory(
            voice=voice, review_status=APPROVED, text=distinct_text(i), quality_score=40 + i,
            conversation=conversations[i % 10],
        )
        for i in range(60)
    ]
    used, old = clips[:10], clips[10:15]
    make_used(used, voice)
    ClipSample.objects.filter(pk__in=[c.pk for c in old]).update(created_at=timezone.now() - timedelta(days=45))
    rejected = [
        ClipSampleFactory(voice=voice, review_status="rejected", review_reason="artifacts", text=distinct_text(100 + i),
                          quality_score=100)
        for i in range(5)
    ]

    selection = select_clips_for_retrain(voice=voice, window_days=30, limits=SelectionLimits.from_settings(max_files=12))

    chosen = {c.clip_id for c in selection.generated}
    eligible = {c.pk for c in clips[15:]}
    assert chosen and chosen <= eligible
    assert not chosen & {c.pk for c in used + old + rejected}
    assert [c.clip_id for c in selection.originals] == [c.pk for c in originals_]
    # Within the provider limits (here 12 files in all).
    assert selection.file_count <= 12
    assert len(selection.generated) == 9
    # Best first: identical prosody and unrelated texts, so the order is the quality order.
    scores = [c.quality_score for c in selection.generated]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 99
    assert selection.excluded["already_used"] == 10
    assert selection.excluded["rejected"] == 5
    assert selection.excluded["outside_window"] == 5
    assert selection.excluded["pending"] == 0
    assert selection.excluded["over_provider_limits"] == 45 - 9
    check_totals_add_up(selection, 65)
    report = selection.as_report()
    assert report["excluded"]["already_used"] == 10
    assert report["totals"]["files"] == 12


def test_thirty_approved_clips_of_ten_minutes_fill_the_budget_under_every_cap():
    voice = VoiceFactory()
    originals_ = originals(voice, [15, 15, 15, 15])
    conversations = [ConversationFactory(voice=voice) for _ in range(6)]
    durations = [12, 16, 20, 24, 28] * 6
    assert sum(durations) == 600
    for i, seconds in enumerate(durations):
        ClipSampleFactory(voice=voice, review_status=APPROVED, duration_s=seconds, text=distinct_text(i),
                          quality_score=80 + i % 20, conversation=conversations[i % 6])
    limits = SelectionLimits.from_settings()
    assert limits.budget_s == 150 and limits.generated_share_max == 0.6

    selection = select_clips_for_retrain(voice=voice)

    assert abs(selection.total_duration_s - 150) <= 15
    assert selection.total_duration_s <= 150
    assert selection.generated_share <= 0.6 + 1e-9
    assert {c.clip_id for c in selection.originals} == {c.pk for c in originals_}
    cap = limits.max_conversation_share * selection.total_duration_s
    assert selection.conversation_durations
    assert all(seconds <= cap + 1e-6 for seconds in selection.conversation_durations.values())
    check_totals_add_up(selection, 30)


def test_generated_share_cap_binds_when_originals_are_short():
    voice = VoiceFactory()
    originals(voice, [6])
    for i in range(10):
        ClipSampleFactory(voice=voice, review_status=APPROVED, duration_s=3, text=distinct_text(i),
                          conversation=ConversationFactory(voice=voice))

    selection = select_clips_for_retrain(voice=voice)

    # 60 % of the total may be generated: at most 1.5 × the 6 s of originals = 9 s.
    assert selection.generated_duration_s == 9
    assert selection.generated_share == pytest.approx(0.6)
    assert selection.excluded["over_generated_share"] == 7


def test_rules_exclude_short_deep_flagged_unanalysed_and_pending_clips_with_reasons():
    voice = VoiceFactory()
    originals(voice, [60])
    good = ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(1))
    ClipSampleFactory(voice=voice, review_status=APPROVED, duration_s=1.5, text=distinct_text(2))
    ClipSampleFactory(voice=voice, review_status=APPROVED, lineage_depth=3, text=distinct_text(3))
    ClipSampleFactory(voice=voice, review_status=APPROVED, quality_flags=["clipped"], quality_score=60,
                      text=distinct_text(4))
    # Trailing silence is repaired in the training copy, so it does not exclude.
    trimmed = ClipSampleFactory(voice=voice, review_status=APPROVED, quality_flags=["long_trailing_silence"],
                                quality_score=95, text=distinct_text(5))
    ClipSampleFactory(voice=voice, review_status=APPROVED, analysed_at=None, text=distinct_text(6))
    ClipSampleFactory(voice=voice, review_status="pending", text=distinct_text(7))
    # Another voice's clip never appears, not even as an exclusion.
    ClipSampleFactory(review_status=APPROVED)

    selection = select_clips_for_retrain(voice=voice)

    assert {c.clip_id for c in selection.generated} == {good.pk, trimmed.pk}
    for reason in ("too_short", "too_deep_lineage", "quality_flagged", "not_analysed", "pending"):
        assert selection.excluded[reason] == 1, reason
    check_totals_add_up(selection, 7)


def test_near_duplicate_texts_keep_only_the_better_clip():
    voice = VoiceFactory()
    originals(voice, [60])
    better = ClipSampleFactory(voice=voice, review_status=APPROVED, quality_score=95,
                               text="Hello there! How are you doing today?")
    ClipSampleFactory(voice=voice, review_status=APPROVED, quality_score=90, text="Hello there, how are you doing?")
    other = ClipSampleFactory(voice=voice, review_status=APPROVED, quality_score=80,
                              text="The bakery opens at seven every morning.")

    selection = select_clips_for_retrain(voice=voice)

    assert [c.clip_id for c in selection.generated] == [better.pk, other.pk]
    assert selection.excluded["near_duplicate"] == 1


def test_diversity_prefers_a_different_register_over_more_of_the_same():
    voice = VoiceFactory()
    originals(voice, [60])
    low = [ClipSampleFactory(voice=voice, review_status=APPROVED, pitch_median_hz=150, speaking_rate_cps=14,
                             text=distinct_text(i)) for i in range(6)]
    high = [ClipSampleFactory(voice=voice, review_status=APPROVED, pitch_median_hz=230, speaking_rate_cps=14,
                              quality_score=97, text=distinct_text(10 + i)) for i in range(3)]

    # Room for three 6 s clips.
    selection = select_clips_for_retrain(voice=voice, limits=SelectionLimits.from_settings(budget_s=78))

    chosen = [c.clip_id for c in selection.generated]
    assert len(chosen) == 3
    assert chosen[0] == low[0].pk  # the best merit goes first
    assert any(pk in {c.pk for c in high} for pk in chosen)


def test_sentence_types_are_balanced_among_equal_clips():
    voice = VoiceFactory()
    originals(voice, [60])
    for i in range(5):
        ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(i, "."))
    question = ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(9, "?"))

    selection = select_clips_for_retrain(voice=voice, limits=SelectionLimits.from_settings(budget_s=72))

    assert question.pk in [c.clip_id for c in selection.generated]


def test_long_replies_count_only_up_to_the_tail_cut():
    voice = VoiceFactory()
    originals(voice, [60])
    long = ClipSampleFactory(voice=voice, review_status=APPROVED, duration_s=55, quality_flags=["too_long"],
                             quality_score=90, text=distinct_text(1))

    with override_settings(RETRAIN_CLIP_MAX_USE_S=20):
        selection = select_clips_for_retrain(voice=voice)

    (chosen,) = selection.generated
    assert chosen.clip_id == long.pk
    assert chosen.use_s == 20 and chosen.is_tail_cut
    assert selection.generated_duration_s == 20


def test_provider_byte_limits_are_respected():
    voice = VoiceFactory()
    originals(voice, [60])
    for i in range(5):
        ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(i))
    unconstrained = select_clips_for_retrain(voice=voice)
    size = unconstrained.generated[0].estimated_bytes
    assert size >= 6 * 16_000  # never estimated below MP3 at 128 kbps
    original_bytes = sum(c.estimated_bytes for c in unconstrained.originals)

    limits = SelectionLimits.from_settings(max_total_bytes=original_bytes + 2 * size)
    selection = select_clips_for_retrain(voice=voice, limits=limits)

    assert len(selection.generated) == 2
    assert selection.total_bytes <= limits.max_total_bytes
    assert selection.excluded["over_provider_limits"] == 3

    too_big = SelectionLimits.from_settings(max_file_bytes=size - 1)
    assert select_clips_for_retrain(voice=voice, limits=too_big).excluded["over_provider_limits"] == 5


def test_selection_is_deterministic_and_window_none_means_no_limit():
    voice = VoiceFactory()
    originals(voice, [40])
    conversations = [ConversationFactory(voice=voice) for _ in range(4)]
    for i in range(40):
        ClipSampleFactory(voice=voice, review_status=APPROVED, text=f"Sentence {i % 7} about cakes number {i}.",
                          quality_score=90 + i % 5, pitch_median_hz=140 + (i * 13) % 60,
                          conversation=conversations[i % 4])
    ClipSample.objects.filter(voice=voice).update(created_at=timezone.now() - timedelta(days=400))
    now = timezone.now()

    first = select_clips_for_retrain(voice=voice, window_days=None, now=now)
    second = select_clips_for_retrain(voice=voice, window_days=None, now=now)
    assert first.clip_ids == second.clip_ids
    assert first.as_report() == second.as_report()
    assert first.generated and first.excluded["outside_window"] == 0

    assert select_clips_for_retrain(voice=voice, window_days=30, now=now).generated == []


def test_conversation_cap_is_planned_against_the_target_total():
    voice = VoiceFactory()
    originals(voice, [30])
    one, two = ConversationFactory(voice=voice), ConversationFactory(voice=voice)
    for i in range(6):
        ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(i), conversation=one)
    ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(9), conversation=two)

    selection = select_clips_for_retrain(voice=voice)

    # 30 s of originals → 45 s of generated capacity → a 75 s plan; 20 % of it is 15 s per conversation.
    assert selection.generated_capacity_s == 45
    durations = sorted(selection.conversation_durations.values())
    assert durations == [6, 12]
    assert selection.excluded["over_conversation_cap"] == 4
    check_totals_add_up(selection, 7)


def test_each_conversation_supplies_at_least_one_clip_when_the_share_is_smaller_than_a_reply():
    """Issue 14: one 8 s original and 20 conversations of one ~4 s reply each. The share cap per
    conversation (20 % of a 20 s plan = 4 s) is smaller than every reply; each conversation's first clip
    is admitted anyway, and the last clip is cut to fill the generated capacity (1.5 × 8 s = 12 s)."""
    voice = VoiceFactory()
    originals(voice, [8])
    for i in range(20):
        ClipSampleFactory(voice=voice, review_status=APPROVED, duration_s=4.2, text=distinct_text(i),
                          conversation=ConversationFactory(voice=voice))

    selection = select_clips_for_retrain(voice=voice)

    assert [c.use_s for c in selection.generated] == [4.2, 4.2, 3.6]
    assert selection.generated[-1].is_tail_cut
    assert len(set(selection.conversation_durations)) == 3
    assert selection.generated_duration_s == pytest.approx(12)
    assert selection.generated_share == pytest.approx(0.6)
    assert selection.excluded["over_conversation_cap"] == 0
    assert selection.excluded["over_generated_share"] == 17
    check_totals_add_up(selection, 20)


def test_replies_longer_than_the_share_room_are_cut_to_it_rather_than_starving_the_run():
    voice = VoiceFactory()
    originals(voice, [8])
    for i in range(3):
        ClipSampleFactory(voice=voice, review_status=APPROVED, duration_s=13, text=distinct_text(i),
                          conversation=ConversationFactory(voice=voice))

    selection = select_clips_for_retrain(voice=voice)

    (only,) = selection.generated
    assert only.use_s == pytest.approx(12) and only.is_tail_cut and only.duration_s == 13
    assert selection.excluded["over_generated_share"] == 2


def test_without_originals_no_generated_speech_is_selected():
    voice = VoiceFactory()
    for i in range(5):
        ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(i))

    selection = select_clips_for_retrain(voice=voice)

    assert selection.generated == [] and selection.generated_capacity_s == 0
    assert selection.excluded["over_generated_share"] == 5


def test_a_retired_original_is_never_selected_and_originals_only_ignores_generated_clips():
    voice = VoiceFactory()
    kept, retired = originals(voice, [20, 20])
    ClipSample.objects.filter(pk=retired.pk).update(retired_at=timezone.now())
    ClipSampleFactory(voice=voice, review_status=APPROVED, text=distinct_text(1))

    selection = select_clips_for_retrain(voice=voice)
    assert [c.clip_id for c in selection.originals] == [kept.pk]
    assert selection.excluded_originals["retired"] == 1
    assert selection.generated_capacity_s == 30 and len(selection.generated) == 1

    reclone = select_clips_for_retrain(voice=voice, originals_only=True)
    assert [c.clip_id for c in reclone.clips] == [kept.pk]
    assert reclone.as_report()["originals_only"] is True


def test_originals_beyond_the_provider_file_limit_are_left_out_oldest_kept():
    voice = VoiceFactory()
    made = originals(voice, [10, 10, 10])

    selection = select_clips_for_retrain(voice=voice, limits=SelectionLimits.from_settings(max_files=2))

    assert [c.clip_id for c in selection.originals] == [made[0].pk, made[1].pk]
    assert selection.excluded_originals["over_provider_limits"] == 1


def test_imported_clips_of_unknown_lineage_rank_below_known_ones_and_need_approval():
    voice = VoiceFactory()
    originals(voice, [60])
    unknown = ClipSampleFactory(voice=voice, review_status=APPROVED, is_lineage_unknown=True, text=distinct_text(1))
    known = ClipSampleFactory(voice=voice, review_status=APPROVED, lineage_depth=1, text=distinct_text(2))
    pending_unknown = ClipSampleFactory(voice=voice, is_lineage_unknown=True, text=distinct_text(3))

    selection = select_clips_for_retrain(voice=voice)

    assert [c.clip_id for c in selection.generated] == [known.pk, unknown.pk]
    assert pending_unknown.pk not in selection.clip_ids
    assert selection.excluded["pending"] == 1


def test_pending_clips_rank_only_for_the_review_queue():
    voice = VoiceFactory()
    originals(voice, [60])
    pending = ClipSampleFactory(voice=voice, text=distinct_text(1))

    assert select_clips_for_retrain(voice=voice).generated == []
    what_if = select_clips_for_retrain(voice=voice, include_pending=True)
    assert [c.clip_id for c in what_if.generated] == [pending.pk]


def test_a_reply_far_from_the_originals_pitch_ranks_below_one_in_the_speakers_register():
    voice = VoiceFactory()
    ClipSampleFactory(voice=voice, source="original", duration_s=60, review_status=APPROVED, text="",
                      pitch_median_hz=150)
    drifted = ClipSampleFactory(voice=voice, review_status=APPROVED, pitch_median_hz=260, text=distinct_text(1))
    faithful = ClipSampleFactory(voice=voice, review_status=APPROVED, pitch_median_hz=155, text=distinct_text(2))

    selection = select_clips_for_retrain(voice=voice)

    assert [c.clip_id for c in selection.generated] == [faithful.pk, drifted.pk]
    assert selection.generated[0].rank_score > selection.generated[1].rank_score


def test_clips_eligible_for_retrain_is_the_approved_unused_pool_in_the_window():
    from clones.selectors import clips_eligible_for_retrain

    voice = VoiceFactory()
    fresh = ClipSampleFactory(voice=voice, review_status=APPROVED)
    old = ClipSampleFactory(voice=voice, review_status=APPROVED)
    ClipSample.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    used = ClipSampleFactory(voice=voice, review_status=APPROVED)
    make_used([used], voice)
    in_open_run = ClipSampleFactory(voice=voice, review_status=APPROVED)
    RetrainRunClip.objects.create(run=RetrainRun.objects.create(voice=voice, state="candidate"), clip=in_open_run,
                                  role="generated")
    ClipSampleFactory(voice=voice)  # pending
    ClipSampleFactory(voice=voice, source="original", review_status=APPROVED)
    ClipSampleFactory(review_status=APPROVED)  # another voice

    since = timezone.now() - timedelta(days=30)
    assert set(clips_eligible_for_retrain(voice=voice, since=since)) == {fresh, in_open_run}
    assert set(clips_eligible_for_retrain(voice=voice)) == {fresh, old, in_open_run}
