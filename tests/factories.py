"""factory_boy factories for rows that need no side effects; use services when they do."""

import factory
from django.contrib.auth import get_user_model


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


# --- Voices, conversations and clips (clip curation) --------------------------------------------------

import hashlib  # noqa: E402
import itertools  # noqa: E402

from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.utils import timezone  # noqa: E402

from clones.models import ClipSample, ConsentRecord, Voice, VoiceVersion  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402

_provider_ids = itertools.count(1)
_DEFAULT_CLIP_AUDIO: bytes | None = None


def default_clip_audio() -> bytes:
    """A short real MP3 (2 s of speech-like sound at 22.05 kHz), made once per test process."""
    global _DEFAULT_CLIP_AUDIO
    if _DEFAULT_CLIP_AUDIO is None:
        from tests.audio import encode, speech_like

        _DEFAULT_CLIP_AUDIO = encode(speech_like(2.0, sample_rate=22050), 22050, fmt="MP3")
    return _DEFAULT_CLIP_AUDIO


def store_audio(path: str, data: bytes) -> str:
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(data))


class VoiceFactory(factory.django.DjangoModelFactory):
    """A ready voice with an active version 1 (no provider call: the provider id is made up)."""

    class Meta:
        model = Voice
        skip_postgeneration_save = True  # the hook saves what it changes

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Voice {n}")
    persona = "You are a friendly test voice."
    status = Voice.Status.READY

    @factory.post_generation
    def with_version(obj, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        version = VoiceVersion.objects.create(
            voice=obj, number=1, provider_voice_id=f"testvoice{next(_provider_ids):011d}",
            state=VoiceVersion.State.ACTIVE,
        )
        obj.current_version = version
        obj.save(update_fields=["current_version"])


class VoiceVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VoiceVersion

    voice = factory.SubFactory(VoiceFactory)
    number = factory.Sequence(lambda n: n + 2)
    provider_voice_id = factory.LazyFunction(lambda: f"testvoice{next(_provider_ids):011d}")
    state = VoiceVersion.State.ARCHIVED


class ConsentRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentRecord

    voice = factory.SubFactory(VoiceFactory)
    given_by = factory.LazyAttribute(lambda o: o.voice.owner)
    speaker_name = "Ada Lovelace"
    statement_version = "test-v1"
    statement_text = "I consent to my voice being cloned."


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    voice = factory.SubFactory(VoiceFactory)
    user = factory.LazyAttribute(lambda o: o.voice.owner)
    title = factory.Sequence(lambda n: f"Conversation {n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.ASSISTANT
    text = factory.Sequence(lambda n: f"Message {n}.")
    status = Message.Status.READY


class ClipSampleFactory(factory.django.DjangoModelFactory):
    """A stored, analysed clip with a real (small) MP3 in default storage.

    `audio=` stores other bytes; `conversation=` also creates the assistant message the clip speaks,
    so the clip belongs to that conversation. Metrics are plausible for a clean clip; override freely.
    """

    class Meta:
        model = ClipSample
        exclude = ("audio",)
        skip_postgeneration_save = True

    class Params:
        audio = None

    voice = factory.SubFactory(VoiceFactory)
    source = ClipSample.Source.GENERATED
    version = factory.LazyAttribute(lambda o: o.voice.current_version if o.source == "generated" else None)
    text = factory.Sequence(lambda n: f"Reply number {n} about topic {n * 7919 % 1000}.")
    file = factory.LazyAttributeSequence(
        lambda o, n: store_audio(
            f"{'clone_responses' if o.source != 'original' else 'originals'}/{o.voice.pk}/test_{n}.mp3",
            o.audio if o.audio is not None else default_clip_audio(),
        )
    )
    content_type = "audio/mpeg"
    size_bytes = factory.LazyAttribute(lambda o: len(o.audio if o.audio is not None else default_clip_audio()))
    sha256 = factory.LazyAttribute(
        lambda o: hashlib.sha256(o.audio if o.audio is not None else default_clip_audio()).hexdigest()
    )
    duration_s = 6.0
    sample_rate = 22050
    loudness_lufs = -20.0
    peak_dbfs = -3.0
    clipping_ratio = 0.0
    leading_silence_s = 0.1
    trailing_silence_s = 0.2
    speech_ratio = 0.8
    snr_db = 35.0
    quality_score = 100.0
    quality_flags = factory.LazyFunction(list)
    analysed_at = factory.LazyFunction(timezone.now)
    lineage_depth = factory.LazyAttribute(lambda o: 1 if o.source == "generated" else 0)
    review_status = ClipSample.ReviewStatus.PENDING

    @factory.post_generation
    def conversation(obj, create, extracted, **kwargs):
        if create and extracted is not None:
            MessageFactory(conversation=extracted, text=obj.text, clip=obj)
