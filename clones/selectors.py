"""Reads for voices and clips, scoped to the asking user in one place.

Two kinds of access to a voice, decided only here:
- *manage* (`voice_list_for_user`): its owner, and staff for every voice. Rename, persona, disable,
  retry, retrain, clips, originals, versions.
- *chat* (`voice_list_visible_for_user`, `voice_list_usable_for_user`): the voices someone manages plus
  the ready voices staff shared with every user (`Voice.is_shared`). Listing them and starting
  conversations with them; nothing else. A conversation stays private to whoever started it
  (conversations.selectors).
"""

from django.db.models import Q, QuerySet

from .models import ClipSample, Voice


def _voices() -> QuerySet[Voice]:
    return Voice.objects.select_related("current_version", "owner")


def _shared_with_everyone() -> Q:
    return Q(is_shared=True, status=Voice.Status.READY)


def voice_list_for_user(*, user) -> QuerySet[Voice]:
    """The voices the user manages: their own; staff manage every voice."""
    qs = _voices()
    return qs if user.is_staff else qs.filter(owner=user)


def voice_get_for_user(*, user, voice_id) -> Voice:
    """A voice the user manages. Raises Voice.DoesNotExist for a missing or foreign voice alike (a shared
    voice is foreign here: see `voice_get_visible_for_user`)."""
    return voice_list_for_user(user=user).get(pk=voice_id)


def voice_list_visible_for_user(*, user) -> QuerySet[Voice]:
    """The voices the user may see: those they manage plus ready voices shared with every user."""
    qs = _voices()
    return qs if user.is_staff else qs.filter(Q(owner=user) | _shared_with_everyone())


def voice_get_visible_for_user(*, user, voice_id) -> Voice:
    """Raises Voice.DoesNotExist for a missing voice and for a foreign one that is not shared."""
    return voice_list_visible_for_user(user=user).get(pk=voice_id)


def voice_list_usable_for_user(*, user) -> QuerySet[Voice]:
    """Voices the user can start a conversation with: their own ready voices and the shared ones
    (staff too: they read every conversation but talk only with their own or shared voices)."""
    return _voices().filter(Q(owner=user) | _shared_with_everyone(), status=Voice.Status.READY)


def voice_is_usable_by(*, user, voice: Voice) -> bool:
    """Whether `user` may talk with `voice` now (it is ready, and theirs or shared with everyone)."""
    return voice_list_usable_for_user(user=user).filter(pk=voice.pk).exists()


def voice_can_manage(*, user, voice: Voice) -> bool:
    """Whether `user` may change `voice` (rename, persona, disable, retrain, clips, originals)."""
    return user.is_staff or voice.owner_id == user.pk


def originals_for_user(*, user, voice_id) -> QuerySet[ClipSample]:
    """The original recordings of one of the user's voices (staff: any voice), oldest first, retired ones
    included. Raises Voice.DoesNotExist for a missing or foreign voice."""
    voice = voice_get_for_user(user=user, voice_id=voice_id)
    return voice.clips.filter(source=ClipSample.Source.ORIGINAL).select_related("consent").order_by("created_at", "id")


def clip_get_for_user(*, user, clip_id) -> ClipSample:
    """A clip of one of the user's voices (staff: any clip). Raises ClipSample.DoesNotExist."""
    qs = ClipSample.objects.select_related("voice")
    if not user.is_staff:
        qs = qs.filter(voice__owner=user)
    return qs.get(pk=clip_id)


# --- Clip curation ---------------------------------------------------------------------------------
# "Used" means part of a promoted retrain run (DESIGN §2: a query, never a flag that can drift).

USED_RUN_STATES = ("promoted",)

# Flags the staff filters offer: clones.analysis.FLAGS plus the analysis task's own `undecodable`.
QUALITY_FLAGS = (
    "mostly_silence", "clipped", "too_quiet", "too_loud", "noisy", "too_short", "too_long",
    "long_leading_silence", "long_trailing_silence", "undecodable",
)


def clip_is_used_expression():
    """Exists(): the clip trained a version that was promoted."""
    from django.db.models import Exists, OuterRef

    from retraining.models import RetrainRunClip

    return Exists(RetrainRunClip.objects.filter(clip=OuterRef("pk"), run__state__in=USED_RUN_STATES))


def clip_is_used_annotation():
    """The same answer as `clip_is_used_expression()`, shaped for a column of a page of rows: a scalar
    subquery with LIMIT 1, evaluated for each row the page returns. As an EXISTS in the select list,
    PostgreSQL hashes every promoted run link first (175 ms at a million clips, 26 ms this way; issue 13).
    Filters keep the EXISTS, which PostgreSQL turns into a (anti-)join."""
    from django.db.models import BooleanField, ExpressionWrapper, IntegerField, OuterRef, Subquery
    from django.db.models.lookups import IsNull

    from retraining.models import RetrainRunClip

    first = RetrainRunClip.objects.filter(clip=OuterRef("pk"), run__state__in=USED_RUN_STATES).values("pk")[:1]
    return ExpressionWrapper(IsNull(Subquery(first, output_field=IntegerField()), False),
                             output_field=BooleanField())


def clip_ids_used_by_voice(*, voice) -> QuerySet:
    """Subquery: ids of the clips `voice`'s promoted runs used (for `pk__in`; hashed once by PostgreSQL).
    A run holds clips of its own voice only, so these are all of the voice's used clips."""
    from retraining.models import RetrainRunClip

    return RetrainRunClip.objects.filter(run__voice=voice, run__state__in=USED_RUN_STATES).values("clip_id")


def quality_flag_filter(flags) -> Q:
    """Q(): the clip's quality flags include any of `flags`.

    On PostgreSQL a JSON containment (`@>`) per flag, which the GIN index `clip_quality_flags_gin` answers;
    elsewhere the JSON list as text contains the quoted flag (SQLite has no JSON containment lookup).
    Flags are plain identifiers (QUALITY_FLAGS), so the quoted text cannot match inside another flag."""
    from django.db import connection

    q = Q()
    for flag in flags:
        if connection.vendor == "postgresql":
            q |= Q(quality_flags__contains=[flag])
        else:
            q |= Q(quality_flags__icontains=f'"{flag}"')
    return q


def clip_run_count_expression():
    """Correlated subquery: how many runs (any state) include the clip. Evaluated only for the rows a
    page returns, unlike a JOIN + GROUP BY over the whole filtered table."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from retraining.models import RetrainRunClip

    counts = (
        RetrainRunClip.objects.filter(clip=OuterRef("pk")).order_by().values("clip").annotate(n=Count("pk")).values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def clip_queryset_with_usage(qs: QuerySet[ClipSample] | None = None, *, with_is_used: bool = True
                             ) -> QuerySet[ClipSample]:
    """Clips annotated with `used_in_runs` (int) and, unless `with_is_used=False`, `is_used` (bool).

    The admin changelist shows only the run count: an `is_used` column it never showed made PostgreSQL
    hash every promoted run link on each page (issue 13)."""
    qs = ClipSample.objects.all() if qs is None else qs
    qs = qs.annotate(used_in_runs=clip_run_count_expression())
    return qs.annotate(is_used=clip_is_used_annotation()) if with_is_used else qs


def clip_filter(qs: QuerySet[ClipSample], filters: dict) -> QuerySet[ClipSample]:
    """Apply the staff clip filters (all optional; see `clip_list_for_staff`)."""
    if filters.get("voice"):
        qs = qs.filter(voice_id=filters["voice"])
    if filters.get("source"):
        qs = qs.filter(source=filters["source"])
    if filters.get("review_status"):
        qs = qs.filter(review_status=filters["review_status"])
    flag = filters.get("flag")
    if flag == "none":
        qs = qs.filter(analysed_at__isnull=False, quality_flags=[])
    elif flag == "any":
        qs = qs.filter(analysed_at__isnull=False).exclude(quality_flags=[])
    elif flag:
        qs = qs.filter(quality_flag_filter([flag]))
    if filters.get("analysed") is not None:
        qs = qs.filter(analysed_at__isnull=not filters["analysed"])
    if filters.get("used") is not None:
        used = clip_is_used_expression()
        qs = qs.filter(used if filters["used"] else ~used)
    if filters.get("created_after"):
        qs = qs.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        qs = qs.filter(created_at__lt=filters["created_before"])
    if filters.get("min_score") is not None:
        qs = qs.filter(quality_score__gte=filters["min_score"])
    if filters.get("max_score") is not None:
        qs = qs.filter(quality_score__lte=filters["max_score"])
    if filters.get("q"):
        qs = qs.filter(text__icontains=filters["q"])
    return qs


def clip_list_for_staff(*, filters: dict | None = None) -> QuerySet[ClipSample]:
    """Every clip (staff only: callers check `is_staff`), newest first, with voice, version, reviewer
    and message joined and usage annotated, so a page of any size costs one query.

    filters: voice (id), source, review_status, flag (a quality flag, "none" or "any"), analysed (bool),
    used (bool), created_after / created_before (datetimes), min_score / max_score, q (text search).
    """
    qs = ClipSample.objects.select_related("voice", "version", "reviewed_by", "message")
    return clip_queryset_with_usage(clip_filter(qs, filters or {})).order_by("-created_at", "-id")


def clip_get_for_staff(*, clip_id) -> ClipSample:
    """Raises ClipSample.DoesNotExist."""
    return clip_list_for_staff().get(pk=clip_id)


def clips_eligible_for_retrain(*, voice, since=None) -> QuerySet[ClipSample]:
    """Generated clips of `voice` a retrain may use: stored, approved, not used by a promoted run, and
    (with `since`) created at or after it. Quality, lineage and budget rules are the selection service's
    (`clones.services.select_clips_for_retrain`); this is the pool it starts from."""
    qs = (
        ClipSample.objects.filter(
            voice=voice, source=ClipSample.Source.GENERATED, review_status=ClipSample.ReviewStatus.APPROVED
        )
        .exclude(sha256="")
        .exclude(file="")
        .filter(~clip_is_used_expression())
    )
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs


def clip_pending_voices(*, limit: int = 50) -> list[dict]:
    """Voices with the most pending clips for the queue's voice filter: {"voice", "voice__name", "n"}."""
    from clones.services.review_queue import pending_voices

    return pending_voices(limit=limit)


def clip_review_queue(*, voice=None, limit: int = 50) -> list[ClipSample]:
    """Pending generated clips in review order, most impactful first (issue 5, item 8).

    First the clips the next retrain of their voice would select if they were approved (in selection
    order), then clips with a metric close to a quality threshold (where a human decides best), then
    clean clips, flagged clips and unanalysed ones. See `clones.services.review_queue`.
    """
    from clones.services.review_queue import review_queue_order

    return review_queue_order(voice=voice, limit=limit)
