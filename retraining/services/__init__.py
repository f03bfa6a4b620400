"""Writes for retraining, split by subject; import from `retraining.services`.

- eligibility: which voices may be retrained and why not (a dry run of the selection); the scan.
- cost: a run's provider cost, estimated at proposal and actual after.
- runs: the run state machine (propose, approve, reject, cancel, retry, execute, promote, rollback).
- quota: custom-voice slots, slot planning, the quota overview.
- cleanup: the archived-voice deletion policy and protocol.
- reconcile: provider voices versus our versions.
- foreign: provider voices voiceclone does not own (adopt, mark deletable, free).
- legacy_import: `manage.py import_legacy`, adopting a previous installation.
"""

from .cleanup import (  # noqa: F401
    CleanupResult,
    archived_voices_cleanup,
    archived_voices_cleanup_enqueue,
    deletable_archived_versions,
    deletion_retry_delay_s,
    discarded_candidate_versions,
    free_one_slot,
    policy_deletable_reason,
    provider_deletions_due_sweep,
    staff_deletable_reason,
    version_delete_enqueue,
    version_delete_now,
    version_deletion_request,
    version_in_use_reason,
    version_provider_delete,
)
from .cost import (  # noqa: F401
    retrain_costs_by_voice,
    retrain_run_cost,
    retrain_run_cost_actual,
    retrain_run_cost_estimate,
)
from .eligibility import (  # noqa: F401
    DISABLED_MESSAGE as RETRAINING_DISABLED_MESSAGE,
    REASON_LABELS,
    Eligibility,
    RetrainingDisabled,
    ScanResult,
    exclusion_words,
    reason_label,
    reasons_summary,
    retrain_scan,
    retrain_scan_enqueue,
    retraining_enabled_check,
    voice_eligibility,
    voices_eligibility,
)
from .foreign import (  # noqa: F401
    ForeignVoice,
    deletable_foreign_voices,
    foreign_provider_voices,
    foreign_voice_adopt,
    foreign_voice_delete,
    foreign_voice_mark_deletable,
)
from .quota import (  # noqa: F401
    SlotPlan,
    queue_position,
    quota_overview,
    quota_read,
    slot_holders,
    slot_plan,
    staff_options,
    waiting_runs_in_order,
)
from .reconcile import ReconcileReport, provider_reconcile  # noqa: F401
from .runs import (  # noqa: F401
    EditInPlaceDisabled,
    provider_labels,
    retrain_run_approve,
    retrain_run_cancel,
    retrain_run_execute,
    retrain_run_promote,
    retrain_run_promotion_check,
    retrain_run_propose,
    retrain_run_reject,
    retrain_run_retry,
    retrain_run_rollback,
    retrain_runs_resume,
    retrain_runs_stale_requeue,
    retrain_runs_sweep,
    voice_version_rollback,
)
