"""Pages: download a voice's kit, import a kit, download a conversation's export."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from clones import selectors as clone_selectors
from clones.models import Voice
from clones.services import CONSENT_STATEMENT
from conversations import selectors as conversation_selectors
from conversations.export import conversation_export
from conversations.models import Conversation
from voiceclone.errors import ApplicationError, ConsentRevoked
from voiceclone.streaming import streaming_download

from . import services
from .forms import KitImportForm


@login_required
@require_GET
def voice_kit_download(request, voice_id):
    try:
        voice = clone_selectors.voice_get_for_user(user=request.user, voice_id=voice_id)
    except Voice.DoesNotExist:
        raise Http404("No such voice.") from None
    try:
        export = services.voice_kit_export(voice=voice, by=request.user)
    except ConsentRevoked as exc:
        return HttpResponse(exc.message, status=410, content_type="text/plain; charset=utf-8")
    return streaming_download(request, iter(export), filename=export.filename, content_type="application/zip",
                              size=export.size_bytes)


@login_required
@require_http_methods(["GET", "POST"])
def voice_kit_import(request):
    form = KitImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = services.voice_kit_import(
                owner=request.user, upload=data["kit"], consent=data["consent"], speaker_name=data["speaker_name"],
                name=data["name"], ip_address=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except ApplicationError as exc:
            form.add_error("kit", exc.message)
            for detail in (exc.extra or {}).get("errors", [])[:10]:
                form.add_error("kit", detail)
        else:
            messages.success(request, "The kit is valid. Your voice is being created and its clips imported.")
            return redirect("voice-detail", voice_id=result.voice.pk)
    return render(request, "kits/voice_import.html", {"form": form, "consent_statement": CONSENT_STATEMENT},
                  status=400 if form.errors else 200)


@login_required
@require_GET
def conversation_export_download(request, conversation_id):
    try:
        conversation = conversation_selectors.conversation_list_for_user(user=request.user).get(
            pk=conversation_id, user=request.user
        )
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None
    export = conversation_export(conversation=conversation, by=request.user)
    return streaming_download(request, iter(export), filename=export.filename, content_type="application/zip",
                              size=export.size_bytes)
