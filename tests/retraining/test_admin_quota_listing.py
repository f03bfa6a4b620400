"""The quota page lists what really holds the custom-voice slots, and says so in words when a list is empty
(no more "1. None.")."""

import re

import pytest

from clones.models import VoiceVersion

from .helpers import voice_with_history

pytestmark = pytest.mark.django_db

QUOTA = "/admin/retraining/retrainrun/quota/"


def test_quota_page_lists_every_version_holding_a_slot(client, staff, emulator_ctl):
    voice, (v1, v2, v3) = voice_with_history(name="Hist", archived=2)
    VoiceVersion.objects.filter(pk=v1.pk).update(state=VoiceVersion.State.DELETED)
    client.force_login(staff)

    page = client.get(QUOTA).content.decode()

    holders = page[page.index('id="quota-holders"'):page.index("</table>", page.index('id="quota-holders"'))]
    assert "Voices holding slots (2)" in page
    assert v2.provider_voice_id in holders and v3.provider_voice_id in holders
    assert v1.provider_voice_id not in holders  # deleted at the provider: no slot
    assert re.search(r"<td>v3</td>\s*<td>active</td>", holders)
    assert re.search(r"<td>v2</td>\s*<td>archived</td>", holders)
    assert voice.owner.get_username() in holders


def test_empty_lists_read_as_sentences(client, staff, emulator_ctl):
    client.force_login(staff)

    page = client.get(QUOTA).content.decode()

    assert "<li>None.</li>" not in page
    assert "No run is waiting for a slot." in page
    assert "No candidate versions." in page
    assert "No voice of this installation holds a slot." in page
