"""Reading the cost ledger: per day, voice and kind, for a user (staff: anyone's, or everyone's)."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, QuerySet, Sum

from .models import UsageEntry


def usage_entries_for_user(*, user, since: date, until: date, voice_id=None, kind: str | None = None,
                           user_id=None) -> QuerySet[UsageEntry]:
    """Ledger rows between `since` and `until` (UTC days, inclusive). A user sees their own; staff see every
    user's, or `user_id`'s."""
    qs = UsageEntry.objects.filter(day__gte=since, day__lte=until)
    if not user.is_staff:
        qs = qs.filter(user=user)
    elif user_id is not None:
        qs = qs.filter(user_id=user_id)
    if voice_id is not None:
        qs = qs.filter(voice_ref=voice_id)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def usage_summary(qs: QuerySet[UsageEntry]) -> dict:
    """Totals and one row per (day, voice, kind, user), newest day first."""
    rows = (
        qs.values("day", "voice_ref", "voice__name", "kind", "user__username")
        .annotate(characters=Sum("characters"), audio_s=Sum("audio_s"), requests=Count("id"))
        .order_by("-day", "voice__name", "kind", "user__username")
    )
    totals = qs.aggregate(characters=Sum("characters"), audio_s=Sum("audio_s"), requests=Count("id"))
    return {
        "totals": {"characters": totals["characters"] or 0, "audio_s": round(totals["audio_s"] or 0.0, 3),
                   "requests": totals["requests"]},
        "rows": [
            {"day": r["day"], "voice": r["voice_ref"], "voice_name": r["voice__name"], "kind": r["kind"],
             "user": r["user__username"], "characters": r["characters"] or 0,
             "audio_s": round(r["audio_s"] or 0.0, 3), "requests": r["requests"]}
            for r in rows
        ],
    }
