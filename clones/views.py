"""Voice pages: list, create (with consent), detail (status, retry, edit, disable)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from conversations import selectors as conversation_selectors
from voiceclone.errors import ApplicationError, ConsentMissing, InvalidState

from . import selectors, services
from .forms import (
    ConsentLinkForm,
    ConsentRevokeForm,
    OriginalsAddForm,
    RemoteConsentForm,
    VoiceCreateForm,
    VoiceUpdateForm,
)
from .models import Voice


def _get_voice(request, voice_id) -> Voice:
    """A voice the user manages (404 otherwise, shared voices included)."""
    try:
        return selectors.voice_get_for_user(user=request.user, voice_id=voice_id)
    except Voice.DoesNotExist:
        raise Http404("No such voice.") from None


@login_required
def voice_list(request):
    # The user's own voices (also for staff, who see every voice in the admin/API), then the voices
    # staff shared with everyone that the user can chat with.
    own = selectors.voice_list_for_user(user=request.user).filter(owner=request.user)
    shared = selectors.voice_list_usable_for_user(user=request.user).exclude(owner=request.user).order_by("name")
    return render(request, "clones/voice_list.html", {"voices": own, "shared_voices": shared})


@login_required
@require_http_methods(["GET", "POST"])
def voice_create(request):
    form = VoiceCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            voice = services.voice_create(
                owner=request.user,
                name=data["name"],
                persona=data["persona"],
                language=data["language"],
                **_consented_upload_kwargs(request, data),
            )
        except ConsentMissing as exc:
            form.add_error("consent", exc.message)
        except ApplicationError as exc:  # e.g. too many voice creations
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, "Your voice is being created. This usually takes a few seconds.")
            if _wants_json(request):
                # static/js/voice_create.js posts the form itself (so a refused form keeps the chosen
                # files) and navigates here; following a redirect inside fetch would eat the message.
                return JsonResponse({"redirect": reverse("voice-detail", kwargs={"voice_id": voice.pk})})
            return redirect("voice-detail", voice_id=voice.pk)
    return render(
        request,
        "clones/voice_create.html",
        {"form": form, "consent_statement": services.CONSENT_STATEMENT},
        status=400 if form.errors else 200,
    )


def _consented_upload_kwargs(request, data: dict) -> dict:
    """The recordings, the consent and who gave it, as creating a voice and adding originals take them. Pages
    always need the recorded consent phrase (`via="page"`, clones.services.consent)."""
    recording = data.get("consent_recording")
    return {
        "samples": [services.SampleUpload.from_uploaded_file(f) for f in data["samples"]],
        "consent": data["consent"],
        "speaker_name": data["speaker_name"],
        "ip_address": request.META.get("REMOTE_ADDR") or None,
        "user_agent": request.headers.get("User-Agent", ""),
        "consent_recording": services.SampleUpload.from_uploaded_file(recording) if recording else None,
        "consent_token": data.get("consent_token") or "",
        "via": "page",
    }


@login_required
def consent_phrase(request):
    """JSON for the consent block of the create and originals forms: a fresh phrase and its token."""
    try:
        phrase = services.consent_phrase_issue(speaker_name=request.GET.get("speaker_name", ""),
                                               voice_name=request.GET.get("name", ""))
    except ValidationError as exc:
        return JsonResponse({"errors": exc.message_dict}, status=400)
    return JsonResponse({"phrase": phrase.phrase, "token": phrase.token})


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _detail_context(request, voice: Voice, update_form: VoiceUpdateForm | None = None,
                    originals_form: OriginalsAddForm | None = None) -> dict:
    conversations = conversation_selectors.conversation_list_for_user(user=request.user).filter(
        voice=voice, user=request.user
    )
    can_manage = selectors.voice_can_manage(user=request.user, voice=voice)
    return {
        "voice": voice,
        "conversations": conversations,
        "update_form": update_form or VoiceUpdateForm(initial={"name": voice.name, "persona": voice.persona}),
        "is_owner": voice.owner_id == request.user.id,
        # Sections that change the voice (edit, disable, retry, originals) show only to who manages it:
        # a shared voice's page is read-only for everyone else, and its originals are not theirs to see.
        "can_manage": can_manage,
        "can_chat": selectors.voice_is_usable_by(user=request.user, voice=voice),
        "originals": selectors.originals_for_user(user=request.user, voice_id=voice.pk) if can_manage else [],
        "originals_form": originals_form or OriginalsAddForm(),
        "consent_statement": services.CONSENT_STATEMENT,
        "consents": voice.consents.order_by("created_at", "id") if can_manage else [],
        "consent_link_form": ConsentLinkForm(),
        "consent_revoke_form": ConsentRevokeForm(),
        "is_revoked": voice.status == Voice.Status.REVOKED,
    }


@login_required
def voice_detail(request, voice_id):
    # Shared voices have a read-only page: status and the user's own conversations with it.
    try:
        voice = selectors.voice_get_visible_for_user(user=request.user, voice_id=voice_id)
    except Voice.DoesNotExist:
        raise Http404("No such voice.") from None
    return render(request, "clones/voice_detail.html", _detail_context(request, voice))


@login_required
@require_POST
def voice_update(request, voice_id):
    voice = _get_voice(request, voice_id)
    form = VoiceUpdateForm(request.POST)
    if form.is_valid():
        try:
            services.voice_update(voice=voice, name=form.cleaned_data["name"], persona=form.cleaned_data["persona"],
                                  by=request.user)
        except InvalidState as exc:
            messages.error(request, exc.message)
            return redirect("voice-detail", voice_id=voice.pk)
        except ValidationError as exc:
            voice.refresh_from_db()
            form.add_service_errors(exc)
        else:
            messages.success(request, "Saved. New replies use the updated persona.")
            return redirect("voice-detail", voice_id=voice.pk)
    return render(request, "clones/voice_detail.html", _detail_context(request, voice, form), status=400)


@login_required
@require_POST
def voice_retry(request, voice_id):
    voice = _get_voice(request, voice_id)
    try:
        services.voice_retry(voice=voice)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Trying again: your voice is being created.")
    return redirect("voice-detail", voice_id=voice.pk)


@login_required
@require_http_methods(["GET", "POST"])
def voice_disable(request, voice_id):
    """GET asks for confirmation; POST disables (the clone stops answering)."""
    voice = _get_voice(request, voice_id)
    if request.method == "POST":
        services.voice_disable(voice=voice)
        messages.success(request, f"“{voice.name}” is disabled and will not speak again.")
        return redirect("voice-detail", voice_id=voice.pk)
    return render(request, "clones/voice_disable_confirm.html", {"voice": voice})


@login_required
@require_POST
def voice_originals_add(request, voice_id):
    """More consented recordings of the speaker (issue 14): same rules as creating the voice."""
    voice = _get_voice(request, voice_id)
    form = OriginalsAddForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            added = services.voice_originals_add(
                voice=voice,
                by=request.user,
                **_consented_upload_kwargs(request, data),
            )
        except ConsentMissing as exc:
            form.add_error("consent", exc.message)
        except InvalidState as exc:
            messages.error(request, exc.message)
            return redirect("voice-detail", voice_id=voice.pk)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            count = len(added)
            messages.success(request, f"{count} recording{'s' if count != 1 else ''} added. They are used from "
                                      "the next retrain of this voice.")
            return redirect("voice-detail", voice_id=voice.pk)
    return render(request, "clones/voice_detail.html", _detail_context(request, voice, originals_form=form),
                  status=400)


def _original_action(request, voice_id, clip_id, service, done: str):
    voice = _get_voice(request, voice_id)
    clip = selectors.originals_for_user(user=request.user, voice_id=voice.pk).filter(pk=clip_id).first()
    if clip is None:
        raise Http404("No such recording.")
    service(clip=clip, by=request.user)
    messages.success(request, f"“{clip.original_filename or 'Recording'}” {done}.")
    return redirect("voice-detail", voice_id=voice.pk)


@login_required
@require_POST
def voice_original_retire(request, voice_id, clip_id):
    return _original_action(request, voice_id, clip_id, services.original_retire,
                            "is retired: kept, but no retrain uses it")


@login_required
@require_POST
def voice_original_restore(request, voice_id, clip_id):
    return _original_action(request, voice_id, clip_id, services.original_restore, "is used again")


@login_required
@require_POST
def voice_consent_revoke(request, voice_id):
    """The owner (or staff) withdraws the speaker's consent: irreversible, cascades (docs/consent.md)."""
    voice = _get_voice(request, voice_id)
    form = ConsentRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return redirect("voice-detail", voice_id=voice.pk)
    services.consent_revoke(voice=voice, by=request.user, reason=form.cleaned_data["reason"])
    messages.success(request, f"Consent for “{voice.name}” is revoked: the voice will not speak again and its "
                              "provider voices are being deleted.")
    return redirect("voice-detail", voice_id=voice.pk)


@login_required
@require_POST
def voice_consent_link(request, voice_id):
    """A signed, expiring link for a remote speaker to record their consent (shown once on the page)."""
    voice = _get_voice(request, voice_id)
    form = ConsentLinkForm(request.POST)
    if form.is_valid():
        try:
            token = services.consent_link_issue(voice=voice, speaker_name=form.cleaned_data["speaker_name"],
                                                by=request.user)
        except (InvalidState, ValidationError) as exc:
            messages.error(request, getattr(exc, "message", None) or " ".join(exc.messages))
        else:
            url = request.build_absolute_uri(reverse("consent-remote", kwargs={"token": token}))
            messages.success(request, f"Send this link to {form.cleaned_data['speaker_name']}: {url}")
    else:
        messages.error(request, "Name the speaker who will record their consent.")
    return redirect("voice-detail", voice_id=voice.pk)


@require_http_methods(["GET", "POST"])
def consent_remote(request, token):
    """The remote speaker's page (no account): read the phrase aloud, record it in the browser, send it."""
    try:
        link = services.consent_link_read(token=token)
    except InvalidState as exc:
        return render(request, "clones/consent_remote.html", {"link_error": exc.message}, status=410)
    form = RemoteConsentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        recording = form.cleaned_data.get("consent_recording")
        try:
            if not recording:
                raise ValidationError({"consent_recording": ["Record yourself reading the phrase, then send it."]})
            services.consent_remote_give(
                link_token=token, phrase_token=form.cleaned_data.get("consent_token") or "",
                recording=services.SampleUpload.from_uploaded_file(recording),
                ip_address=request.META.get("REMOTE_ADDR") or None, user_agent=request.headers.get("User-Agent", ""),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        except InvalidState as exc:
            return render(request, "clones/consent_remote.html", {"link_error": exc.message}, status=410)
        else:
            return render(request, "clones/consent_remote.html", {"done": True, "link": link})
    phrase = services.consent_phrase_issue(speaker_name=link.speaker_name, voice_name=link.voice.name)
    return render(request, "clones/consent_remote.html", {"form": form, "link": link, "phrase": phrase},
                  status=400 if form.errors else 200)
