"""The database enforces the product's invariants, whatever the code above it does."""

import pytest
from django.db import IntegrityError, transaction

from clones.models import VoiceVersion
from retraining.models import RetrainRun
from tests.factories import VoiceFactory

pytestmark = pytest.mark.django_db


def test_only_one_active_version_per_voice():
    voice = VoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        VoiceVersion.objects.create(voice=voice, number=2, provider_voice_id="other-active", state="active")
    VoiceVersion.objects.create(voice=voice, number=2, provider_voice_id="a-candidate", state="candidate")
    VoiceVersion.objects.create(voice=VoiceFactory(), number=2, provider_voice_id="x", state="archived")


def test_provider_voice_id_is_unique_across_voices():
    voice = VoiceFactory()
    taken = voice.current_version.provider_voice_id
    with pytest.raises(IntegrityError), transaction.atomic():
        VoiceVersion.objects.create(voice=VoiceFactory(), number=2, provider_voice_id=taken, state="archived")


def test_version_numbers_are_unique_per_voice():
    voice = VoiceFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        VoiceVersion.objects.create(voice=voice, number=1, provider_voice_id="dup-number", state="archived")


@pytest.mark.parametrize("open_state", ["approved", "running", "waiting_for_slot", "candidate"])
def test_one_open_retrain_run_per_voice(open_state):
    voice = VoiceFactory()
    RetrainRun.objects.create(voice=voice, state="running")
    with pytest.raises(IntegrityError), transaction.atomic():
        RetrainRun.objects.create(voice=voice, state=open_state)
    # Closed and proposed runs do not hold the voice.
    RetrainRun.objects.create(voice=voice, state="proposed")
    RetrainRun.objects.create(voice=voice, state="promoted")
    RetrainRun.objects.create(voice=VoiceFactory(), state=open_state)
