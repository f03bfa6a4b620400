"""Reads for personas, scoped through the voice (callers get the voice with clones.selectors)."""

from django.db.models import QuerySet

from .models import PersonaDraft, PersonaVersion


def persona_versions_for_voice(*, voice) -> QuerySet[PersonaVersion]:
    return PersonaVersion.objects.filter(voice=voice).select_related("created_by").order_by("-number")


def persona_drafts_for_voice(*, voice) -> QuerySet[PersonaDraft]:
    return PersonaDraft.objects.filter(voice=voice).select_related("created_by", "decided_by", "accepted_version")


def persona_draft_open(*, voice) -> PersonaDraft | None:
    """The draft being written or waiting for a decision, if any (at most one per voice)."""
    return persona_drafts_for_voice(voice=voice).filter(status__in=PersonaDraft.OPEN_STATUSES).first()
