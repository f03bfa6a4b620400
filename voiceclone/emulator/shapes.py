"""JSON shapes of voices, the subscription and the user (elevenlabs-api.md §5-§6).

Internal voice records keep a few emulator-only keys (`seq`, `timbre`, `generation`, `lineage`,
`revision`, `planted_shift`, and `sha256`, `analysis` on samples); `render_voice` builds the public shape without them.
"""

from __future__ import annotations

import calendar
import time

from .timbre import timbre_for

# A few premade voices so listings look like a real account. The ids are the real public premade
# ids, so code that hard-codes a default voice works against the emulator too. They never count
# as custom voices (voice_slots_used) and cannot be edited or deleted.
PREMADE_VOICES = (
    ("21m00Tcm4TlvDq8ikWAM", "Rachel", {"accent": "american", "gender": "female", "age": "young",
                                        "use_case": "narration"}),
    ("pNInz6obpgDQGcFmaJgB", "Adam", {"accent": "american", "gender": "male", "age": "middle aged",
                                      "use_case": "narration"}),
    ("EXAVITQu4vr4xnJ4dnrP", "Sarah", {"accent": "american", "gender": "female", "age": "young",
                                       "use_case": "news"}),
    ("JBFqnCBsd6RMkjVDRZzb", "George", {"accent": "british", "gender": "male", "age": "middle aged",
                                        "use_case": "narration"}),
)

# Internal keys that are not part of the public Voice / VoiceSample shapes.
_PRIVATE_VOICE_KEYS = {"seq", "timbre", "generation", "lineage", "revision", "planted_shift"}
_PRIVATE_SAMPLE_KEYS = {"sha256", "analysis"}


def premade_records() -> list[dict]:
    return [
        {
            "voice_id": voice_id,
            "name": name,
            "category": "premade",
            "description": None,
            "labels": dict(labels),
            "created_at_unix": None,
            "samples": [],
            "seq": -len(PREMADE_VOICES) + index,  # sorts before every custom voice
            "timbre": timbre_for(voice_id).as_dict(),
            "generation": 0,
            "lineage": None,
            "revision": 0,
            "planted_shift": None,
        }
        for index, (voice_id, name, labels) in enumerate(PREMADE_VOICES)
    ]


def render_sample(sample: dict) -> dict:
    return {key: value for key, value in sample.items() if key not in _PRIVATE_SAMPLE_KEYS}


def render_voice(record: dict) -> dict:
    is_custom = record["category"] != "premade"
    voice = {key: value for key, value in record.items() if key not in _PRIVATE_VOICE_KEYS}
    voice["samples"] = [render_sample(sample) for sample in record["samples"]] if is_custom else None
    voice.update(
        {
            "fine_tuning": {
                "is_allowed_to_fine_tune": is_custom,
                "state": {},
                "verification_failures": [],
                "verification_attempts_count": 0,
                "manual_verification_requested": False,
            },
            "preview_url": None,
            "available_for_tiers": [],
            "settings": None,
            "sharing": None,
            "high_quality_base_model_ids": [],
            "verified_languages": [],
            "collection_ids": [],
            "voice_verification": {
                "requires_verification": False,
                "is_verified": False,
                "verification_failures": [],
                "verification_attempts_count": 0,
            },
            "permission_on_resource": "admin" if is_custom else None,
            "is_owner": is_custom,
            "is_legacy": False,
            "is_mixed": False,
        }
    )
    return voice


def _next_month_unix(now: float) -> int:
    moment = time.gmtime(now)
    year, month = (moment.tm_year + 1, 1) if moment.tm_mon == 12 else (moment.tm_year, moment.tm_mon + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


def subscription(
    *, character_count: int, character_limit: int, voice_slots_used: int, voice_limit: int, voice_add_edit_counter: int
) -> dict:
    """GET /v1/user/subscription, with the live counters filled in (shape of spec §6.1)."""
    return {
        "tier": "creator",
        "character_count": character_count,
        "character_limit": character_limit,
        "max_character_limit_extension": None,
        "max_credit_limit_extension": 0,
        "can_extend_character_limit": True,
        "allowed_to_extend_character_limit": False,
        "next_character_count_reset_unix": _next_month_unix(time.time()),
        "voice_slots_used": voice_slots_used,
        "professional_voice_slots_used": 0,
        "professional_voice_slots_used_in_workspace": 0,
        "voice_limit": voice_limit,
        "max_voice_add_edits": 95,
        "voice_add_edit_counter": voice_add_edit_counter,
        "professional_voice_limit": 1,
        "can_extend_voice_limit": False,
        "can_use_instant_voice_cloning": True,
        "can_use_professional_voice_cloning": True,
        "currency": "usd",
        "current_overage": {"amount": "0.00", "currency": "usd"},
        "status": "active",
        "billing_period": "monthly_period",
        "character_refresh_period": "monthly_period",
        "next_invoice": None,
        "open_invoices": [],
        "has_open_invoices": False,
    }


def user(subscription_payload: dict, *, api_key: str) -> dict:
    """GET /v1/user: the user with a nested SubscriptionResponse (no invoice fields)."""
    invoice_keys = {"open_invoices", "has_open_invoices"}
    nested = {key: value for key, value in subscription_payload.items() if key not in invoice_keys}
    return {
        "user_id": "emulatoruser00000001",
        "workspace_id": "emulatorworkspace001",
        "subscription": nested,
        "is_new_user": False,
        "can_use_delayed_payment_methods": False,
        "is_onboarding_completed": True,
        "is_onboarding_checklist_completed": True,
        "first_name": "Emulator",
        "is_api_key_hashed": False,
        "xi_api_key_preview": (api_key[:4] + "…") if api_key else None,
        "created_at": 1735689600,
        "seat_type": "workspace_admin",
    }
