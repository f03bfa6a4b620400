"""Retraining API (staff only): `/api/v1/retrain-runs/` and `/api/v1/quota/`.

Non-staff callers get 403 on the collections and 404 on any run: a run is never visible to them.
Every write goes through `retraining.services`; errors map through `voiceclone.api.exception_handler`
(NotEligible 422 with reasons, InvalidState 409, provider errors 502/503).
"""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from clones.models import Voice, VoiceVersion
from clones.selectors import voice_get_for_user
from retraining import selectors, services
from retraining.models import RetrainRun
from voiceclone.api import CreatedCursorPagination
from voiceclone.openapi import PROVIDER_ERRORS, error

from .serializers import (
    CleanupOutputSerializer,
    EligibilityFilterInputSerializer,
    EligibilityOutputSerializer,
    QuotaOutputSerializer,
    RetrainRunCreateInputSerializer,
    RetrainRunDetailOutputSerializer,
    RetrainRunFilterInputSerializer,
    RetrainRunOutputSerializer,
    RetrainRunPromoteInputSerializer,
    RetrainRunReasonInputSerializer,
    VersionDeleteOutputSerializer,
)

NOT_ELIGIBLE = OpenApiResponse(description="Not eligible: `extra.reasons` ([{code, message}]) and `extra.counts`")
INVALID_STATE = OpenApiResponse(description="The run is not in a state that allows this")
RETRAINING_DISABLED = OpenApiResponse(description="`retraining_disabled`: RETRAIN_ENABLED is off")


def _require_staff(request) -> None:
    if not request.user.is_staff:
        raise PermissionDenied("Retraining is for staff.")


class RetrainRunViewSet(viewsets.GenericViewSet):
    """Retrain runs: propose, approve, reject, cancel, retry, promote, roll back (staff)."""

    pagination_class = CreatedCursorPagination
    serializer_class = RetrainRunDetailOutputSerializer
    lookup_value_regex = r"\d+"
    staff_only = True  # the schema says so (voiceclone.openapi); non-staff get 403 on collections, 404 on runs

    def get_queryset(self):
        return selectors.retrain_run_list_for_user(user=self.request.user)

    def _get(self, request, pk) -> RetrainRun:
        try:
            return selectors.retrain_run_get_for_user(user=request.user, run_id=int(pk))
        except (RetrainRun.DoesNotExist, ValueError, TypeError):
            raise NotFound() from None

    def _detail(self, request, run, *, code=status.HTTP_200_OK) -> Response:
        run = selectors.retrain_run_get_for_user(user=request.user, run_id=run.pk)
        return Response(RetrainRunDetailOutputSerializer(run, context={"request": request}).data, status=code)

    @extend_schema(summary="List retrain runs (staff), newest first",
                   parameters=[RetrainRunFilterInputSerializer], responses=RetrainRunOutputSerializer(many=True))
    def list(self, request):
        _require_staff(request)
        filters = RetrainRunFilterInputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.retrain_run_list_for_user(user=request.user)
        if filters.validated_data.get("state"):
            qs = qs.filter(state=filters.validated_data["state"])
        if filters.validated_data.get("voice"):
            qs = qs.filter(voice_id=filters.validated_data["voice"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(
            RetrainRunOutputSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(summary="A retrain run with its clips, previews, eligibility and slot plan (staff)",
                   responses={200: RetrainRunDetailOutputSerializer, 404: OpenApiResponse(description="Not found")})
    def retrieve(self, request, pk=None):
        return self._detail(request, self._get(request, pk))

    @extend_schema(summary="Propose a retrain run for a voice by hand (staff)",
                   description="`strategy`: `recreate` (originals plus curated generated clips), "
                               "`originals_only` (re-clone from the speaker's own recordings; no conversation or "
                               "generated clip needed) or `edit_in_place` (only when enabled). 409 "
                               "`retraining_disabled` when RETRAIN_ENABLED is off.",
                   request=RetrainRunCreateInputSerializer,
                   responses={201: RetrainRunDetailOutputSerializer, 409: RETRAINING_DISABLED, 422: NOT_ELIGIBLE})
    def create(self, request):
        _require_staff(request)
        serializer = RetrainRunCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            voice = voice_get_for_user(user=request.user, voice_id=serializer.validated_data["voice"])
        except Voice.DoesNotExist:
            raise ValidationError({"voice": ["Unknown voice."]}) from None
        run = services.retrain_run_propose(
            voice=voice, proposed_by=request.user, strategy=serializer.validated_data["strategy"]
        )
        return self._detail(request, run, code=status.HTTP_201_CREATED)

    @extend_schema(summary="Approve a proposed run; its task starts in the background (staff)", request=None,
                   responses={202: RetrainRunDetailOutputSerializer, 409: INVALID_STATE})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        run = services.retrain_run_approve(run=self._get(request, pk), by=request.user)
        return self._detail(request, run, code=status.HTTP_202_ACCEPTED)

    @extend_schema(summary="Reject a proposed run or a candidate (its provider voice is deleted) (staff)",
                   request=RetrainRunReasonInputSerializer,
                   responses={200: RetrainRunDetailOutputSerializer, 409: INVALID_STATE})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        serializer = RetrainRunReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.retrain_run_reject(run=self._get(request, pk), by=request.user, **serializer.validated_data)
        return self._detail(request, run)

    @extend_schema(summary="Cancel a run that is not promoted (staff)", request=RetrainRunReasonInputSerializer,
                   responses={200: RetrainRunDetailOutputSerializer, 409: INVALID_STATE})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        serializer = RetrainRunReasonInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.retrain_run_cancel(run=self._get(request, pk), by=request.user, **serializer.validated_data)
        return self._detail(request, run)

    @extend_schema(summary="Retry a failed run; it resumes where it stopped (staff)", request=None,
                   responses={202: RetrainRunDetailOutputSerializer, 409: INVALID_STATE})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        run = services.retrain_run_retry(run=self._get(request, pk), by=request.user)
        return self._detail(request, run, code=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Promote a candidate: the voice speaks with the new version from its next reply (staff)",
        description="Refused with 409 `fidelity_gate_failed` (`extra.reasons`) when the fidelity gate failed the "
                    "candidate, or `fidelity_gate_pending` while it is still measuring, unless staff send "
                    "`override_reason` (recorded, emitted as `retrain.gate_overridden`).",
        request=RetrainRunPromoteInputSerializer,
        responses={200: RetrainRunDetailOutputSerializer,
                   409: error("`invalid_state`, `fidelity_gate_failed` (with `extra.reasons`) or "
                              "`fidelity_gate_pending`"),
                   **PROVIDER_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        run = self._get(request, pk)
        serializer = RetrainRunPromoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = services.retrain_run_promote(run=run, by=request.user, **serializer.validated_data)
        return self._detail(request, run)

    @extend_schema(summary="Roll a promoted run back: re-activate the version it replaced (staff)", request=None,
                   responses={200: RetrainRunDetailOutputSerializer, 409: INVALID_STATE, **PROVIDER_ERRORS})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        run = self._get(request, pk)
        services.retrain_run_rollback(run=run, by=request.user)
        return self._detail(request, run)

    @extend_schema(
        summary="Which voices may be retrained now, and why not (staff)",
        description="`is_eligible` is true exactly when `POST /api/v1/retrain-runs/` with this voice and "
                    "strategy would succeed now: the check runs the selection as a dry run. Each reason is "
                    "`{code, message}`; the message says what blocks and what to do.",
        parameters=[EligibilityFilterInputSerializer],
        responses=EligibilityOutputSerializer(many=True),
    )
    @action(detail=False, methods=["get"], pagination_class=None)  # a plain list: one row per voice
    def eligibility(self, request):
        _require_staff(request)
        filters = EligibilityFilterInputSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        voices = Voice.objects.exclude(status=Voice.Status.DISABLED)
        if filters.validated_data.get("voice"):
            voices = voices.filter(pk=filters.validated_data["voice"])
        strategy = filters.validated_data.get("strategy") or RetrainRun.Strategy.RECREATE
        rows = [e.as_dict() for e in services.voices_eligibility(voices=voices, strategy=strategy)]
        wanted = filters.validated_data.get("eligible")
        if wanted is not None:
            rows = [r for r in rows if r["is_eligible"] == wanted]
        return Response(EligibilityOutputSerializer(rows, many=True).data)

    @extend_schema(summary="Scan every voice now and propose runs for the eligible ones (staff)", request=None,
                   responses={202: CleanupOutputSerializer})
    @action(detail=False, methods=["post"])
    def scan(self, request):
        _require_staff(request)
        services.retrain_scan_enqueue()
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)


class QuotaViewSet(viewsets.GenericViewSet):
    """Custom-voice slots of the provider account (staff)."""

    serializer_class = QuotaOutputSerializer
    pagination_class = None
    staff_only = True

    def get_queryset(self):
        return VoiceVersion.objects.none()

    @extend_schema(summary="Voice slots: used/limit, archived voices holding slots (oldest first), waiting runs",
                   responses=QuotaOutputSerializer)
    def list(self, request):
        _require_staff(request)
        return Response(QuotaOutputSerializer(services.quota_overview()).data)

    @extend_schema(summary="Delete archived provider voices beyond the keep count, in the background (staff)",
                   request=None, responses={202: CleanupOutputSerializer})
    @action(detail=False, methods=["post"])
    def cleanup(self, request):
        _require_staff(request)
        services.archived_voices_cleanup_enqueue()
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Delete one version's provider voice to free its slot, even within the keep count (staff)",
        request=None, parameters=[OpenApiParameter("version_id", int, location="path")],
        responses={202: VersionDeleteOutputSerializer, 409: INVALID_STATE},
    )
    @action(detail=False, methods=["post"], url_path=r"versions/(?P<version_id>\d+)/delete")
    def delete_version(self, request, version_id=None):
        _require_staff(request)
        version = VoiceVersion.objects.filter(pk=version_id).select_related("voice").first()
        if version is None:
            raise NotFound("No such version.")
        deletion = services.version_delete_enqueue(version=version, by=request.user)
        return Response(
            {"deletion_id": deletion.pk, "version_id": version.pk, "provider_voice_id": deletion.provider_voice_id},
            status=status.HTTP_202_ACCEPTED,
        )
