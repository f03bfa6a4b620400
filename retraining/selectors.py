"""Reads for retraining, scoped to the asking user in one place.

Retrain runs are staff business: a non-staff user sees none (the API answers 404 for a run and 403 for
the staff-only collections).
"""

from django.db.models import Count, Q, QuerySet, Sum

from .models import RetrainRun, RetrainRunClip


def retrain_run_list_for_user(*, user) -> QuerySet[RetrainRun]:
    """Every run for staff (newest first, with clip count and selected duration); nothing for others."""
    qs = RetrainRun.objects.select_related(
        "voice", "old_version", "new_version", "proposed_by", "approved_by", "preview_old_clip", "preview_new_clip",
        "fidelity_report__overridden_by",
    ).annotate(
        clip_count=Count("run_clips", distinct=True),
        selected_duration_s=Sum("run_clips__use_s"),
        # What was uploaded (for the run's cost), without a query per run.
        uploaded_files=Count("run_clips", filter=~Q(run_clips__upload_sha256="")),
        uploaded_bytes=Sum("run_clips__upload_bytes"),
    )
    if not (user.is_active and user.is_staff):
        return qs.none()
    return qs.order_by("-created_at", "-pk")


def retrain_run_get_for_user(*, user, run_id) -> RetrainRun:
    """Raises RetrainRun.DoesNotExist for a missing run and for a non-staff user alike."""
    return retrain_run_list_for_user(user=user).get(pk=run_id)


def retrain_run_clips(*, run: RetrainRun) -> QuerySet[RetrainRunClip]:
    """The run's selected clips in upload order, with the clip rows."""
    return run.run_clips.select_related("clip", "clip__message").order_by("position")
