"""Shapes of the retraining API (staff only): runs, eligibility, quota, rollback input."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from retraining.models import RetrainRun, RetrainRunClip
from voiceclone.api import QueryParametersSerializer


def _audio_url(context, clip_id) -> str | None:
    request = context.get("request")
    if request is None or clip_id is None:
        return None
    return request.build_absolute_uri(reverse("api:clip-audio", args=[clip_id]))


class GateReasonOutputSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, e.g. `similarity_dropped`, `wer_too_high`, `pitch_range_narrowed`.")
    message = serializers.CharField(help_text="What the measurement was and which threshold it crossed.")


class GateOverrideOutputSerializer(serializers.Serializer):
    reason = serializers.CharField()
    by = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField()


class FidelityOutputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=["pass", "fail", "pending"],
                                      help_text="The promotion gate's verdict; `promote` refuses fail and pending.")
    similarity = serializers.FloatField(allow_null=True, help_text="0–1: the candidate's probe set vs the originals.")
    active_similarity = serializers.FloatField(allow_null=True,
                                               help_text="0–1: the active version's probe set vs the originals.")
    wer = serializers.FloatField(allow_null=True, help_text="The candidate's speech-to-text round-trip word error rate.")
    active_wer = serializers.FloatField(allow_null=True)
    reasons = GateReasonOutputSerializer(many=True)
    probe_characters = serializers.IntegerField(help_text="Provider TTS characters the probe set costs (both sides).")
    override = GateOverrideOutputSerializer(allow_null=True, help_text="A staff override: why, who, when.")


class RetrainRunOutputSerializer(serializers.ModelSerializer):
    voice_name = serializers.CharField(source="voice.name", read_only=True)
    is_irreversible = serializers.BooleanField(read_only=True, help_text="Edit in place: no rollback possible.")
    clip_count = serializers.IntegerField(read_only=True, default=None)
    total_duration_s = serializers.SerializerMethodField()
    old_version = serializers.IntegerField(source="old_version.number", read_only=True, default=None)
    new_version = serializers.IntegerField(source="new_version.number", read_only=True, default=None)
    proposed_by = serializers.CharField(source="proposed_by.username", read_only=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None)
    preview_old_audio_url = serializers.SerializerMethodField()
    preview_new_audio_url = serializers.SerializerMethodField()
    fidelity = serializers.SerializerMethodField()
    cost = serializers.SerializerMethodField(
        help_text='Provider cost: {"estimate": {"tts_characters", "voice_slots", "items": [...]} (at proposal), '
                  '"actual": {"tts_characters", "items", "is_complete"}} (characters the provider reported).'
    )

    class Meta:
        model = RetrainRun
        fields = [
            "id", "voice", "voice_name", "state", "strategy", "is_irreversible", "clip_count", "total_duration_s",
            "cost", "fidelity", "old_version", "new_version", "preview_old_audio_url", "preview_new_audio_url", "waiting_reason",
            "failure_code", "failure_message", "quota_snapshot", "proposed_by", "approved_by", "approved_at",
            "started_at", "finished_at", "attempt_count", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_total_duration_s(self, obj) -> float | None:
        totals = (obj.selection_report or {}).get("totals") or {}
        return totals.get("duration_s")

    def get_cost(self, obj) -> dict:
        from retraining.services import retrain_run_cost

        return retrain_run_cost(obj)

    @extend_schema_field(FidelityOutputSerializer)
    def get_fidelity(self, obj) -> dict:
        from fidelity.gate import gate_fidelity_summary

        return gate_fidelity_summary(obj)

    def get_preview_old_audio_url(self, obj) -> str | None:
        return _audio_url(self.context, obj.preview_old_clip_id) if obj.preview_old_clip_id else None

    def get_preview_new_audio_url(self, obj) -> str | None:
        return _audio_url(self.context, obj.preview_new_clip_id) if obj.preview_new_clip_id else None


class RetrainRunClipOutputSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="clip.source", read_only=True)
    text = serializers.CharField(source="clip.text", read_only=True)
    duration_s = serializers.FloatField(source="clip.duration_s", read_only=True)
    quality_score = serializers.FloatField(source="clip.quality_score", read_only=True)
    lineage_depth = serializers.IntegerField(source="clip.lineage_depth", read_only=True)
    review_status = serializers.CharField(source="clip.review_status", read_only=True)
    audio_url = serializers.SerializerMethodField()

    class Meta:
        model = RetrainRunClip
        fields = ["clip", "role", "position", "source", "text", "duration_s", "use_s", "quality_score",
                  "lineage_depth", "review_status", "upload_sha256", "upload_bytes", "audio_url"]
        read_only_fields = fields

    def get_audio_url(self, obj) -> str | None:
        return _audio_url(self.context, obj.clip_id)


class SlotPlanSerializer(serializers.Serializer):
    voice_limit = serializers.IntegerField(allow_null=True)
    slots_used = serializers.IntegerField(allow_null=True)
    slots_free = serializers.IntegerField(allow_null=True)
    provider_error = serializers.CharField()
    needs_slot = serializers.BooleanField()
    freeable = serializers.ListField(child=serializers.DictField(), help_text="Archived voices the policy may free.")
    runs_ahead = serializers.ListField(child=serializers.DictField())
    position = serializers.IntegerField(allow_null=True)
    staff_could_delete = serializers.ListField(child=serializers.DictField())
    will_find_slot = serializers.BooleanField(allow_null=True)
    summary = serializers.CharField()


class RetrainRunDetailOutputSerializer(RetrainRunOutputSerializer):
    clips = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    slot_plan = serializers.SerializerMethodField(
        help_text="Live slot outlook (proposed, approved and waiting runs): will it find a slot?"
    )

    class Meta(RetrainRunOutputSerializer.Meta):
        fields = [*RetrainRunOutputSerializer.Meta.fields, "queue_position", "slot_plan", "eligibility_snapshot",
                  "selection_report", "clips"]
        read_only_fields = fields

    def get_clips(self, obj) -> list[dict]:
        from retraining.selectors import retrain_run_clips

        return RetrainRunClipOutputSerializer(retrain_run_clips(run=obj), many=True, context=self.context).data

    def get_queue_position(self, obj) -> int | None:
        from retraining.services import queue_position

        return queue_position(obj)

    def get_slot_plan(self, obj) -> dict | None:
        from retraining.services import slot_plan

        if obj.state not in (RetrainRun.State.PROPOSED, RetrainRun.State.APPROVED, RetrainRun.State.WAITING_FOR_SLOT):
            return None
        return slot_plan(run=obj).as_dict()


class RetrainRunCreateInputSerializer(serializers.Serializer):
    voice = serializers.UUIDField()
    strategy = serializers.ChoiceField(choices=RetrainRun.Strategy.choices, default=RetrainRun.Strategy.RECREATE)


class RetrainRunReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RetrainRunPromoteInputSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="",
        help_text="Staff only: promote although the fidelity gate failed (or is still measuring); recorded with "
                  "who and when, emitted as `retrain.gate_overridden`.",
    )


class RetrainRunFilterInputSerializer(QueryParametersSerializer):
    state = serializers.ChoiceField(choices=RetrainRun.State.choices, required=False)
    voice = serializers.UUIDField(required=False)


class EligibilityFilterInputSerializer(QueryParametersSerializer):
    voice = serializers.UUIDField(required=False, help_text="Only this voice.")
    eligible = serializers.BooleanField(required=False, allow_null=True, default=None,
                                        help_text="Only eligible (true) or ineligible (false).")
    strategy = serializers.ChoiceField(choices=RetrainRun.Strategy.choices, required=False,
                                       help_text="The strategy to check (default recreate).")


class EligibilityReasonOutputSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, e.g. `too_few_approved_clips`.")
    message = serializers.CharField(help_text="What blocks, and what to do.")


class EligibilityOutputSerializer(serializers.Serializer):
    voice_id = serializers.UUIDField()
    voice_name = serializers.CharField()
    strategy = serializers.ChoiceField(choices=RetrainRun.Strategy.choices)
    is_eligible = serializers.BooleanField()
    reasons = EligibilityReasonOutputSerializer(many=True)
    counts = serializers.DictField()
    blocking_run_id = serializers.IntegerField(allow_null=True)


# One object, although it answers the `list` action (drf-spectacular would document an array).
@extend_schema_serializer(many=False)
class QuotaOutputSerializer(serializers.Serializer):
    voice_limit = serializers.IntegerField(allow_null=True)
    slots_used = serializers.IntegerField(allow_null=True)
    slots_free = serializers.IntegerField(allow_null=True)
    provider_error = serializers.CharField()
    keep_per_voice = serializers.IntegerField()
    archived = serializers.ListField(
        child=serializers.DictField(), help_text="Archived voices holding slots, oldest first."
    )
    discarded_candidates = serializers.ListField(child=serializers.DictField())
    candidates = serializers.ListField(child=serializers.DictField())
    waiting_runs = serializers.ListField(child=serializers.DictField())
    pending_deletions = serializers.ListField(child=serializers.DictField())
    staff_could_delete = serializers.ListField(child=serializers.DictField())
    foreign_deletable = serializers.ListField(
        child=serializers.DictField(),
        help_text="Provider voices voiceclone does not own that staff marked deletable: freed first when a run "
                  "needs a slot.",
    )


class CleanupOutputSerializer(serializers.Serializer):
    queued = serializers.BooleanField()


class VersionDeleteOutputSerializer(serializers.Serializer):
    deletion_id = serializers.IntegerField()
    version_id = serializers.IntegerField()
    provider_voice_id = serializers.CharField()


class VoiceRollbackInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The number of the archived version to re-activate.")
