"""`manage.py demo --history`: a voice with enough history to try a retrain at once (issue 12, item 2).

A newcomer cannot try retraining on a fresh installation: it needs RETRAIN_MIN_CONVERSATIONS conversations
with spoken replies and RETRAIN_MIN_APPROVED_CLIPS approved clips. This seeds one voice through the real
paths (consented creation, the provider clone, the chat-turn pipeline with the configured reply engine and
text-to-speech, clip analysis, staff review), inline, so that a proposal succeeds right away. Idempotent:
a second call only tops up what is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from clones import services as clone_services
from clones.models import ClipSample, Voice
from conversations import services as conversation_services
from conversations.models import Conversation, Message

HISTORY_VOICE_NAME = "Ben (demo with history)"
HISTORY_PERSONA = (
    "You are Ben, a retired lighthouse keeper from Cornwall who loves the sea, weather and old radios. "
    "You speak calmly, in short sentences, and like to ask a question back."
)
PROMPTS = [
    "What was the hardest storm you saw?", "How did you keep the lamp lit at night?",
    "Tell me about your favourite radio.", "Which birds nest on the cliffs?",
    "What did you eat on long winter shifts?", "How do ships read the light?",
    "Did you ever rescue anyone?", "What does fog sound like?",
    "Which season do you like best on the coast?", "How loud are the waves in a gale?",
    "What do you miss about the lighthouse?", "Have you ever seen dolphins?",
    "How did you pass the time alone?", "What is the oldest thing you own?",
    "Can you describe the view at sunrise?", "Did the lighthouse have a cat?",
    "How do you fix a valve radio?", "What is the best advice you were given?",
    "What happens when the power fails?", "Which book did you read most often?",
    "How cold does the sea get in January?", "Tell me about your first day on the job.",
    "What makes a good storm lantern?", "Do you still listen to the shipping forecast?",
]
REJECTED_EVERY = 12  # every twelfth reply is rejected, so the review history shows both decisions
PENDING_LAST = 2  # the last replies stay pending: the review queue has something to show


@dataclass
class HistoryResult:
    voice: Voice
    conversations: int
    approved: int
    rejected: int
    pending: int


def _done_here_or_by_a_worker(attempt: Callable[[], object], current: Callable[[], object],
                               busy: Callable[[object], bool]):
    """Run a step inline; when a cluster worker holds it (bin/run's cluster picks up the task the step's
    service enqueued, and may claim it first), wait for that worker to finish, or for its lease to lapse
    and take the step over. Returns the object's final state."""
    result = attempt()
    deadline = time.monotonic() + 3 * settings.WORK_LEASE_S + 60
    while busy(result := current()) and time.monotonic() < deadline:
        time.sleep(0.25)
        attempt()
    return result


def _recordings() -> list[clone_services.SampleUpload]:
    from voiceclone.management.commands.demo import demo_recording

    # Three takes of a lower, slower synthetic speaker: 30 s of originals leave room for 45 s of replies.
    return [
        clone_services.SampleUpload(filename=f"ben-take-{i}.wav", data=demo_recording(seconds=10.0, seed=20 + i))
        for i in range(3)
    ]


def demo_history_seed(*, owner) -> HistoryResult:
    """Create (or top up) the history voice of `owner` until a retrain proposal succeeds. Raises
    RuntimeError when the provider cannot create the voice or speak a reply."""
    voice = Voice.objects.filter(owner=owner, name=HISTORY_VOICE_NAME).exclude(status=Voice.Status.DISABLED).first()
    if voice is None:
        voice = clone_services.voice_create(
            owner=owner, name=HISTORY_VOICE_NAME, persona=HISTORY_PERSONA, language="en", samples=_recordings(),
            consent=True, speaker_name="Ben (synthetic demo speaker)", via="system", paced=False,
        )
        for original in voice.clips.filter(source=ClipSample.Source.ORIGINAL):
            clone_services.clip_analyse(clip_id=original.pk)
    if voice.status == Voice.Status.FAILED:
        clone_services.voice_retry(voice=voice)
    if voice.status in (Voice.Status.CREATING, Voice.Status.FAILED):
        voice = _done_here_or_by_a_worker(
            lambda: clone_services.voice_provider_create(voice_id=voice.pk),
            lambda: Voice.objects.get(pk=voice.pk), lambda v: v.status == Voice.Status.CREATING,
        )
    if voice.status != Voice.Status.READY:
        raise RuntimeError(f"The history voice could not be created: {voice.failure_reason}")

    wanted = max(settings.RETRAIN_MIN_CONVERSATIONS, settings.RETRAIN_MIN_APPROVED_CLIPS) + PENDING_LAST + 2
    existing = Conversation.objects.filter(voice=voice, user=owner).count()
    for index in range(existing, wanted):
        _converse(voice=voice, owner=owner, index=index)

    clips = list(
        ClipSample.objects.filter(voice=voice, source=ClipSample.Source.GENERATED, message__isnull=False)
        .exclude(file="")
        .order_by("created_at", "id")
    )
    for position, clip in enumerate(clips, start=1):
        if clip.analysed_at is None:
            clone_services.clip_analyse(clip_id=clip.pk)
        if clip.review_status != ClipSample.ReviewStatus.PENDING or position > len(clips) - PENDING_LAST:
            continue
        if position % REJECTED_EVERY == 0:
            clone_services.clip_review(clip=clip, reviewer=owner, status="rejected",
                                       reason="Demo: rejected to show a review decision")
        else:
            clone_services.clip_review(clip=clip, reviewer=owner, status="approved")
    counts = {s: 0 for s in ClipSample.ReviewStatus.values}
    for status in ClipSample.objects.filter(voice=voice, source=ClipSample.Source.GENERATED).values_list(
        "review_status", flat=True
    ):
        counts[status] += 1
    return HistoryResult(
        voice=voice, conversations=Conversation.objects.filter(voice=voice).count(),
        approved=counts["approved"], rejected=counts["rejected"], pending=counts["pending"],
    )


def _converse(*, voice: Voice, owner, index: int) -> None:
    """One conversation with one exchange, through the chat-turn pipeline, run here rather than by the cluster
    (the enqueued task, if a cluster runs it too, finds the reply done)."""
    conversation = conversation_services.conversation_create(user=owner, voice=voice, title=f"Demo chat {index + 1}")
    prompt = PROMPTS[index % len(PROMPTS)]
    if index >= len(PROMPTS):
        prompt = f"{prompt} (again, {index // len(PROMPTS) + 1})"
    _, reply = conversation_services.message_send(conversation=conversation, text=prompt, paced=False)
    reply = _done_here_or_by_a_worker(
        lambda: conversation_services.message_reply_generate(message_id=reply.pk),
        lambda: Message.objects.get(pk=reply.pk), lambda m: m.status == Message.Status.PENDING,
    )
    if reply.status != Message.Status.READY:
        raise RuntimeError(f"A demo reply could not be spoken: {reply.failure_reason or reply.status}")
