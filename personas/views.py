"""Owner page actions on a voice's persona: draft, accept (or edit), discard, restore a version."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from clones import selectors as clone_selectors
from clones.models import Voice
from voiceclone.errors import ApplicationError

from . import selectors, services
from .models import PersonaDraft, PersonaVersion


def _voice(request, voice_id) -> Voice:
    try:
        return clone_selectors.voice_get_for_user(user=request.user, voice_id=voice_id)
    except Voice.DoesNotExist:
        raise Http404("No such voice.") from None


def _back(voice):
    return redirect(f"/voices/{voice.pk}/#persona")


@login_required
@require_POST
def persona_draft_request(request, voice_id):
    voice = _voice(request, voice_id)
    try:
        services.persona_draft_request(voice=voice, by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Drafting an improved persona from recent conversations…")
    return _back(voice)


def _draft(request, voice, draft_id) -> PersonaDraft:
    try:
        return selectors.persona_drafts_for_voice(voice=voice).get(pk=draft_id)
    except PersonaDraft.DoesNotExist:
        raise Http404("No such draft.") from None


@login_required
@require_POST
def persona_draft_accept(request, voice_id, draft_id):
    voice = _voice(request, voice_id)
    draft = _draft(request, voice, draft_id)
    text = request.POST.get("text")
    try:
        version = services.persona_draft_accept(draft=draft, by=request.user, text=text if text is not None else None)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The persona is now version {version.number}. New replies use it.")
    return _back(voice)


@login_required
@require_POST
def persona_draft_discard(request, voice_id, draft_id):
    voice = _voice(request, voice_id)
    try:
        services.persona_draft_discard(draft=_draft(request, voice, draft_id), by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Draft discarded; the persona is unchanged.")
    return _back(voice)


@login_required
@require_POST
def persona_version_restore(request, voice_id, number):
    voice = _voice(request, voice_id)
    try:
        version = services.persona_rollback(voice=voice, number=number, by=request.user)
    except PersonaVersion.DoesNotExist:
        raise Http404("No such persona version.") from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Restored the persona of version {number} (now version {version.number}).")
    return _back(voice)
