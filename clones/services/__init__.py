"""Writes for clones. Split by subject; import from `clones.services`."""

from .voices import (  # noqa: F401
    CONSENT_STATEMENT,
    SampleUpload,
    generated_audio_fingerprint_complete,
    generated_audio_register,
    voice_create,
    voice_disable,
    voice_originals_for_provider,
    voice_provider_create,
    voice_retry,
    voice_share,
    voice_update,
    voices_creating_sweep,
)
from .clips import (  # noqa: F401,E402
    REJECT_REASON_CODES,
    BulkReviewResult,
    clip_analyse,
    clip_review,
    clips_bulk_review,
    clips_reanalyse,
)
from .originals import original_restore, original_retire, voice_originals_add  # noqa: F401,E402
from .selection import (  # noqa: F401,E402
    EXCLUSION_REASONS,
    SelectedClip,
    Selection,
    SelectionLimits,
    select_clips_for_retrain,
)
from .training_copy import TrainingCopy, clip_training_copy, selection_training_copies  # noqa: F401,E402
from .consent import (  # noqa: F401,E402
    ConsentPhrase,
    consent_accept,
    consent_link_issue,
    consent_link_read,
    consent_phrase_issue,
    consent_recheck,
    consent_recording_check,
    consent_remote_give,
    consent_revoke,
    consent_standing,
    voice_audio_is_locked,
    voice_audio_refuse_if_locked,
    voice_audio_purge,
    voice_hard_delete,
)
