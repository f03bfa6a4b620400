"""Voice kits from the owner's page and the admin."""

import io
import zipfile

import pytest

from clones.models import Voice
from tests.kits.helpers import body, export_kit, kit_upload

pytestmark = pytest.mark.django_db


def test_the_voice_page_offers_the_kit_and_the_owner_downloads_it(client, alice, alice_voice):
    client.force_login(alice)
    page = client.get(f"/voices/{alice_voice}/").content.decode()
    assert f"/voices/{alice_voice}/kit/" in page
    response = client.get(f"/voices/{alice_voice}/kit/")
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    names = zipfile.ZipFile(io.BytesIO(body(response))).namelist()
    assert "manifest.json" in names and sum(n.startswith("originals/") for n in names) == 2


def test_another_user_gets_no_kit(client, bob, alice_voice):
    client.force_login(bob)
    assert client.get(f"/voices/{alice_voice}/kit/").status_code == 404


def test_the_import_page_creates_the_voice_and_shows_refusals(client, bob, alice_api, alice_voice, run_tasks):
    kit = export_kit(alice_api, alice_voice)
    client.force_login(bob)
    assert client.get("/voices/import/").status_code == 200
    refused = client.post("/voices/import/", {"kit": kit_upload(b"not a zip"), "consent": "on"})
    assert refused.status_code == 400 and "not a zip file" in refused.content.decode()
    missing_consent = client.post("/voices/import/", {"kit": kit_upload(kit)})
    assert missing_consent.status_code == 400
    with run_tasks():
        response = client.post("/voices/import/", {"kit": kit_upload(kit), "consent": "on"})
    voice = Voice.objects.get(owner=bob)
    assert response.status_code == 302 and response["Location"] == f"/voices/{voice.pk}/"
    assert "Imported from a kit" in client.get(f"/voices/{voice.pk}/").content.decode()


def test_staff_export_a_kit_from_the_voice_admin(client, staff, alice_voice):
    client.force_login(staff)
    response = client.post("/admin/clones/voice/", {"action": "export_voice_kit", "_selected_action": [alice_voice]})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(body(response))).testzip() is None
