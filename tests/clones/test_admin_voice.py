"""The voice page in the admin: versions, clip counts, playable originals, consent, and the retrain preview."""

import re

import pytest
from django.urls import reverse

from clones.models import VoiceVersion
from tests.factories import ClipSampleFactory, ConsentRecordFactory, ConversationFactory, VoiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_voice_page_shows_versions_counts_originals_consent_and_what_a_retrain_would_use(staff_client, settings):
    # The totals below are worked out at a generated-share cap of 0.6 (room = 1.5 × the originals' 60 s).
    settings.RETRAIN_GENERATED_SHARE_MAX = 0.6
    voice = VoiceFactory(name="Ada")
    first = voice.current_version
    first.state = VoiceVersion.State.ARCHIVED
    first.save()
    second = VoiceVersion.objects.create(voice=voice, number=2, provider_voice_id="prov-second-0001",
                                         state=VoiceVersion.State.ACTIVE, training_lineage_depth=1)
    voice.current_version = second
    voice.save()
    ConsentRecordFactory(voice=voice, speaker_name="Ada Lovelace", statement_text="I, Ada, consent.")
    originals = [ClipSampleFactory(voice=voice, source="original", review_status="approved", duration_s=30,
                                   original_filename=f"take{i}.wav", text="") for i in range(2)]
    conversations = [ConversationFactory(voice=voice) for _ in range(5)]
    approved = [ClipSampleFactory(voice=voice, review_status="approved", text=f"unique{i} words{i} here{i}.",
                                  conversation=conversations[i % 5]) for i in range(6)]
    ClipSampleFactory(voice=voice, review_status="rejected", review_reason="noise")
    for _ in range(3):
        ClipSampleFactory(voice=voice)

    page = staff_client.get(reverse("admin:clones_voice_change", args=[voice.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    # Versions inline: number, state, provider id.
    assert "prov-second-0001" in html and first.provider_voice_id in html
    assert "Archived" in html and "Active" in html
    # Consent record visible.
    assert "Ada Lovelace" in html and "I, Ada, consent." in html
    # Originals playable.
    for clip in originals:
        assert f'src="{reverse("admin:clones_clipsample_audio", args=[clip.pk])}"' in html
    assert "take0.wav" in html
    # Clip counts by source and review status (generated: 3 pending, 6 approved, 1 rejected).
    counts = re.search(r"<th>Generated reply</th>(.*?)</tr>", html, re.S).group(1)
    assert re.findall(r">(\d+)</a>", counts) == ["3", "6", "1"]
    # What a retrain would use now: a link (the selection is not computed inside the voice page), and
    # on its page the totals: both originals (60 s) and the approved clips.
    assert "What a retrain would use now" in html
    selection_url = reverse("admin:clones_voice_retrain_selection", args=[voice.pk])
    assert f'href="{selection_url}"' in html and "+ 6 generated" not in html
    html = staff_client.get(selection_url).content.decode()
    assert "2 originals (60.0 s)" in html
    assert "+ 6 generated (36.0 s)" in html
    assert "= <strong>96.0 s</strong>" in html
    assert "pending 3" in html and "rejected 1" in html
    for clip in approved:
        assert reverse("admin:clones_clipsample_change", args=[clip.pk]) in html


def test_voice_page_of_a_voice_without_clips_says_so(staff_client):
    voice = VoiceFactory()
    html = staff_client.get(reverse("admin:clones_voice_change", args=[voice.pk])).content.decode()
    assert "No original samples." in html
    html = staff_client.get(reverse("admin:clones_voice_retrain_selection", args=[voice.pk])).content.decode()
    assert "Nothing to select." in html


def test_non_staff_cannot_open_the_voice_admin(client, alice):
    voice = VoiceFactory(owner=alice)
    client.force_login(alice)
    for name in ("admin:clones_voice_change", "admin:clones_voice_retrain_selection"):
        response = client.get(reverse(name, args=[voice.pk]))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
