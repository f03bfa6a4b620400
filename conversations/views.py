"""Conversation pages: list, start, the chat page, archive.

The chat page renders the history server-side; static/js/chat.js then talks to the JSON API
(send, poll pending replies, retry, voice-version events) without reloading the page. The POST
handlers here are the no-JavaScript fallback of the same actions.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Max
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from clones.models import Voice
from clones.selectors import voice_is_usable_by
from voiceclone import replies
from voiceclone.errors import ApplicationError, InvalidState
from voiceclone.events.selectors import event_list_for_user

from . import selectors, services
from .forms import ConversationCreateForm, MessageForm
from .models import Conversation, Message

CONVERSATIONS_PER_PAGE = 20
HISTORY_MESSAGES = 50


def _get_conversation(request, conversation_id) -> Conversation:
    try:
        return selectors.conversation_get_for_user(user=request.user, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


@login_required
def conversation_list(request):
    show_archived = request.GET.get("archived") == "1"
    # The page lists the user's own conversations, also for staff.
    conversations = (
        selectors.conversation_list_for_user(user=request.user)
        .filter(user=request.user, is_archived=show_archived)
        .order_by("-updated_at")
    )
    page = Paginator(conversations, CONVERSATIONS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "conversations/conversation_list.html",
        {"page_obj": page, "conversations": page.object_list, "show_archived": show_archived},
    )


@login_required
@require_http_methods(["GET", "POST"])
def conversation_create(request):
    form = ConversationCreateForm(
        request.POST or None, user=request.user, initial={"voice": request.GET.get("voice")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            conversation = services.conversation_create(
                user=request.user, voice=form.cleaned_data["voice"], title=form.cleaned_data["title"]
            )
        except InvalidState as exc:
            form.add_error("voice", exc.message)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect("conversation-detail", conversation_id=conversation.pk)
    return render(
        request, "conversations/conversation_create.html", {"form": form}, status=400 if form.errors else 200
    )


def _history(conversation: Conversation) -> tuple[list[Message], bool]:
    """The last HISTORY_MESSAGES messages, oldest first, and whether earlier ones exist."""
    newest_first = list(
        selectors.message_list_for_conversation(conversation=conversation).order_by("-created_at", "-id")[
            : HISTORY_MESSAGES + 1
        ]
    )
    has_earlier = len(newest_first) > HISTORY_MESSAGES
    history = list(reversed(newest_first[:HISTORY_MESSAGES]))
    for message in history:
        message.engine_label = replies.engine_label(message.reply_engine) if message.reply_engine else ""
    return history, has_earlier


def _latest_event_id(user) -> int:
    # The events feed cursor to start from, so the page announces only what happens after it loads.
    return event_list_for_user(user=user).aggregate(latest=Max("id"))["latest"] or 0


@login_required
@require_http_methods(["GET", "POST"])
def conversation_detail(request, conversation_id):
    conversation = _get_conversation(request, conversation_id)
    is_owner = conversation.user_id == request.user.id
    voice = conversation.voice
    # Ready, and the user's own voice or one still shared with everyone (clones.selectors decides).
    can_talk = voice.status == Voice.Status.READY and voice_is_usable_by(user=conversation.user, voice=voice)
    can_send = is_owner and not conversation.is_archived and can_talk
    form = MessageForm(request.POST or None)
    if request.method == "POST":
        if not is_owner:
            raise Http404("No such conversation.")  # staff may read any conversation; only its owner talks
        if form.is_valid():
            try:
                services.message_send(conversation=conversation, text=form.cleaned_data["text"])
            except ApplicationError as exc:  # archived, voice not ready, too fast, budget spent
                messages.error(request, exc.message)
                return redirect("conversation-detail", conversation_id=conversation.pk)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                return redirect("conversation-detail", conversation_id=conversation.pk)
    history, has_earlier = _history(conversation)
    context = {
        "conversation": conversation,
        "voice": voice,
        "history": history,
        "has_earlier": has_earlier,
        "form": form,
        "is_owner": is_owner,
        "can_send": can_send,
        "can_talk": can_talk,
        "latest_event_id": _latest_event_id(request.user),
        # JSON API routes for chat.js (pk= kwargs reverse the API routes, not the pages).
        "api_messages_url": reverse("api:conversation-messages", kwargs={"pk": conversation.pk}),
        "api_message_url_template": reverse("api:message-detail", kwargs={"pk": _UUID_PLACEHOLDER}),
        "api_retry_url_template": reverse("api:message-retry", kwargs={"pk": _UUID_PLACEHOLDER}),
        "page_retry_url_template": reverse(
            "conversation-message-retry",
            kwargs={"conversation_id": conversation.pk, "message_id": _UUID_PLACEHOLDER},
        ),
        "uuid_placeholder": _UUID_PLACEHOLDER,
        # chat.js treats a 404 from the events feed as "not available" and stops polling it.
        "events_url": reverse("api:event-list"),
        # Live updates (SSE) and reply streams; chat.js falls back to polling without them.
        "live_events_url": reverse("api:conversation-events", kwargs={"pk": conversation.pk}),
        "api_stream_url_template": reverse("api:message-stream", kwargs={"pk": _UUID_PLACEHOLDER}),
    }
    return render(
        request, "conversations/conversation_detail.html", context, status=400 if form.errors else 200
    )


_UUID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


@login_required
@require_POST
def conversation_archive(request, conversation_id):
    conversation = _get_conversation(request, conversation_id)
    services.conversation_update(conversation=conversation, is_archived=True)
    messages.success(request, "Conversation archived. It stays readable here.")
    return redirect("conversation-detail", conversation_id=conversation.pk)


@login_required
@require_POST
def conversation_unarchive(request, conversation_id):
    conversation = _get_conversation(request, conversation_id)
    services.conversation_update(conversation=conversation, is_archived=False)
    messages.success(request, "Conversation restored.")
    return redirect("conversation-detail", conversation_id=conversation.pk)


@login_required
@require_POST
def conversation_message_retry(request, conversation_id, message_id):
    """No-JavaScript fallback of the Retry button on a failed reply."""
    conversation = _get_conversation(request, conversation_id)
    if conversation.user_id != request.user.id:
        raise Http404("No such conversation.")
    try:
        message = selectors.message_list_for_conversation(conversation=conversation).get(pk=message_id)
    except Message.DoesNotExist:
        raise Http404("No such message.") from None
    try:
        services.message_retry(message=message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("conversation-detail", conversation_id=conversation.pk)
