"""The create-voice form in a real browser: a refused form keeps the chosen recordings."""

from pathlib import Path

import pytest

from clones.models import ClipSample, Voice
from tests.audio import PNG_BYTES, wav_bytes

if not Path("/usr/bin/chromium").exists():
    pytest.skip("/usr/bin/chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = pytest.mark.e2e

FILES = "#id_samples"


def chosen_files(page) -> list[str]:
    return page.locator(FILES).evaluate("input => Array.from(input.files, f => f.name)")


def fill_form(page, tmp_path, files: dict[str, bytes]):
    paths = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    page.locator("#id_name").fill("Grandma Ada")
    page.locator("#id_persona").fill("You are Ada, a cheerful baker from Leeds.")
    page.locator("#id_speaker_name").fill("Ada Lovelace")
    page.set_input_files(FILES, paths)
    # The consent phrase names the speaker and the voice: it arrives once both are typed; then the
    # speaker's recording of it is chosen (docs/consent.md).
    expect(page.locator("[data-phrase-text]")).to_contain_text("called Grandma Ada")
    expect(page.locator("[data-phrase-token]")).not_to_have_value("")
    consent = tmp_path / "consent.wav"
    consent.write_bytes(wav_bytes(3, seed=9))
    page.set_input_files("#create_consent_recording", str(consent))


def test_forgotten_consent_keeps_the_chosen_recordings(page, login, alice, emulator_ctl, tmp_path,
                                                       assert_no_js_errors):
    login("alice")
    page.goto("/voices/new/")
    fill_form(page, tmp_path, {"one.wav": wav_bytes(3, seed=1), "two.wav": wav_bytes(3, seed=2)})
    page.evaluate("window.__samePage = true")

    page.get_by_role("button", name="Create voice").click()

    expect(page.get_by_text("Cloning a voice requires the speaker’s consent")).to_be_visible()
    assert chosen_files(page) == ["one.wav", "two.wav"]
    expect(page.locator("#id_name")).to_have_value("Grandma Ada")
    expect(page.get_by_label("I confirm the consent statement above")).to_be_focused()
    assert page.evaluate("window.__samePage") is True  # no reload: the file input is the same element
    assert not Voice.objects.exists()

    page.get_by_label("I confirm the consent statement above").check()
    page.get_by_role("button", name="Create voice").click()

    page.wait_for_url("**/voices/*-*/")
    expect(page.get_by_role("status").first).to_contain_text("Your voice is being created")
    voice = Voice.objects.get(owner=alice)
    # The phrase and the recording survived the refused first attempt.
    assert "called Grandma Ada" in voice.consents.get().phrase and voice.consents.get().statement_file
    originals = voice.clips.filter(source=ClipSample.Source.ORIGINAL).order_by("original_filename")
    assert [c.original_filename for c in originals] == ["one.wav", "two.wav"]


def test_a_refused_file_is_reported_and_the_selection_kept(page, login, alice, emulator_ctl, tmp_path,
                                                         assert_no_js_errors):
    login("alice")
    page.goto("/voices/new/")
    fill_form(page, tmp_path, {"one.wav": wav_bytes(3, seed=1), "picture.wav": PNG_BYTES})
    page.get_by_label("I confirm the consent statement above").check()

    page.get_by_role("button", name="Create voice").click()

    expect(page.locator(".field--error .errorlist, .form-errors")).to_contain_text("picture.wav")
    assert chosen_files(page) == ["one.wav", "picture.wav"]
    expect(page.locator(FILES)).to_have_attribute("aria-invalid", "true")
    assert not Voice.objects.exists()
