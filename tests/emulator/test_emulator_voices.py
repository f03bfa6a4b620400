"""Voice endpoints over plain HTTP: create, edit, samples, delete, 404/422 bodies and the voice limit."""

import re

import pytest


def test_create_voice_stores_every_uploaded_file_as_a_sample(emulator_http, tone):
    first, second = tone(1.5), tone(2.5, audio_format="WAV", sample_rate=16000)
    response = emulator_http.post(
        "/v1/voices/add",
        data={"name": "Alice", "description": "Test clone", "labels": '{"language": "en", "accent": "british"}',
              "remove_background_noise": "true"},
        files=[
            ("files", ("alice_01.mp3", first, "audio/mpeg")),
            ("files", ("upload", second, "application/octet-stream")),
        ],
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"voice_id", "requires_verification"}
    assert re.fullmatch(r"[A-Za-z0-9]{20}", body["voice_id"])
    voice = emulator_http.get(f"/v1/voices/{body['voice_id']}").json()
    assert voice["category"] == "cloned"
    assert voice["name"] == "Alice"
    assert voice["description"] == "Test clone"
    assert voice["labels"] == {"language": "en", "accent": "british"}
    assert isinstance(voice["created_at_unix"], int)
    samples = voice["samples"]
    assert [s["file_name"] for s in samples] == ["alice_01.mp3", "upload"]
    assert [s["size_bytes"] for s in samples] == [len(first), len(second)]
    # The second upload was sent as octet-stream; the emulator recognises the WAV container.
    assert [s["mime_type"] for s in samples] == ["audio/mpeg", "audio/wav"]
    assert samples[0]["duration_secs"] == pytest.approx(1.5, abs=0.1)
    assert samples[1]["duration_secs"] == pytest.approx(2.5, abs=0.01)
    assert all(re.fullmatch(r"[A-Za-z0-9]{20}", s["sample_id"]) for s in samples)
    assert all(s["remove_background_noise"] is True for s in samples)
    assert "sha256" not in samples[0]  # emulator-only detail, shown by the control API only


def test_labels_null_means_no_labels(emulator_http, create_voice):
    voice_id = create_voice(labels="null")

    assert emulator_http.get(f"/v1/voices/{voice_id}").json()["labels"] == {}


def test_missing_name_and_files_are_listed_in_one_422(emulator_http):
    response = emulator_http.post("/v1/voices/add", data={"description": "no name"}, files={"other": ("x", b"x")})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", "name"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "files"], "msg": "Field required", "type": "missing"},
        ]
    }


def test_request_with_only_files_is_rejected_like_the_sdk_retry_would_be(emulator_http, tone):
    # The SDK's retried multipart request keeps only `files` (spec §1.3); the real API rejects it.
    response = emulator_http.post("/v1/voices/add", files=[("files", ("a.mp3", tone(), "audio/mpeg"))])

    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]


def test_edit_with_empty_body_and_no_content_type_is_a_422(emulator_http, create_voice):
    voice_id = create_voice()

    response = emulator_http.post(f"/v1/voices/{voice_id}/edit", content=b"")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_invalid_boolean_field_is_a_422(emulator_http, tone):
    response = emulator_http.post(
        "/v1/voices/add",
        data={"name": "A", "remove_background_noise": "maybe"},
        files=[("files", ("a.mp3", tone(), "audio/mpeg"))],
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "remove_background_noise"]


def test_edit_appends_samples_and_keeps_the_voice_id(emulator_http, create_voice, tone):
    voice_id = create_voice()
    before = emulator_http.get(f"/v1/voices/{voice_id}").json()["samples"]

    response = emulator_http.post(
        f"/v1/voices/{voice_id}/edit",
        data={"name": "Alice v2", "labels": "null"},
        files=[("files", ("gen_1.mp3", tone(1.0, frequency_hz=300), "audio/mpeg")),
               ("files", ("gen_2.mp3", tone(1.0, frequency_hz=400), "audio/mpeg"))],
    )

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    voice = emulator_http.get(f"/v1/voices/{voice_id}").json()
    assert voice["voice_id"] == voice_id
    assert voice["name"] == "Alice v2"
    assert [s["sample_id"] for s in voice["samples"][:1]] == [before[0]["sample_id"]]
    assert [s["file_name"] for s in voice["samples"]] == ["alice_01.mp3", "gen_1.mp3", "gen_2.mp3"]


def test_delete_sample_and_download_sample_audio(emulator_http, create_voice, tone):
    original = tone(1.0)
    voice_id = create_voice(files=[("a.mp3", original, "audio/mpeg"), ("b.mp3", tone(2.0), "audio/mpeg")])
    sample_a, sample_b = emulator_http.get(f"/v1/voices/{voice_id}").json()["samples"]

    audio = emulator_http.get(f"/v1/voices/{voice_id}/samples/{sample_a['sample_id']}/audio")
    deleted = emulator_http.delete(f"/v1/voices/{voice_id}/samples/{sample_a['sample_id']}")

    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/mpeg"
    assert audio.content == original
    assert deleted.json() == {"status": "ok"}
    remaining = emulator_http.get(f"/v1/voices/{voice_id}").json()["samples"]
    assert [s["sample_id"] for s in remaining] == [sample_b["sample_id"]]


def test_unknown_sample_is_404_sample_not_found(emulator_http, create_voice):
    voice_id = create_voice()

    response = emulator_http.delete(f"/v1/voices/{voice_id}/samples/NoSuchSample00000000")

    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "sample_not_found"


@pytest.mark.parametrize(
    "method, path_template",
    [
        ("GET", "/v1/voices/{id}"),
        ("DELETE", "/v1/voices/{id}"),
        ("GET", "/v1/voices/{id}/samples/abc/audio"),
        ("DELETE", "/v1/voices/{id}/samples/abc"),
    ],
)
def test_unknown_voice_is_404_voice_not_found(emulator_http, method, path_template):
    response = emulator_http.request(method, path_template.format(id="doesNotExist00000000"))

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail["status"] == detail["code"] == "voice_not_found"
    assert detail["message"] == "A voice with the voice_id doesNotExist00000000 was not found."
    assert {"type", "request_id"} <= set(detail)


def test_edit_unknown_voice_is_404(emulator_http):
    response = emulator_http.post(
        "/v1/voices/doesNotExist00000000/edit", data={"name": "x"}, files={"files": ("a", b"1")}
    )

    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "voice_not_found"


def test_voice_limit_reached_at_the_configured_limit(emulator_http, emulator_control, create_voice, tone):
    emulator_control.configure(voice_limit=2)
    create_voice(name="one")
    create_voice(name="two")

    response = emulator_http.post(
        "/v1/voices/add", data={"name": "three"}, files=[("files", ("a.mp3", tone(), "audio/mpeg"))]
    )

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["status"] == detail["code"] == "voice_limit_reached"
    assert detail["message"] == (
        "You have reached your maximum amount of custom voices (2 / 2). "
        "You can upgrade your subscription to increase your custom voice limit."
    )
    assert len(emulator_control.voice_ids()) == 2


def test_default_voice_limit_is_30_and_delete_frees_a_slot(emulator_http, emulator_control, create_voice, tone):
    voice_ids = [create_voice(name=f"v{i}") for i in range(30)]
    blocked = emulator_http.post(
        "/v1/voices/add", data={"name": "x"}, files=[("files", ("a.mp3", tone(), "audio/mpeg"))]
    )
    assert blocked.status_code == 400
    assert "(30 / 30)" in blocked.json()["detail"]["message"]

    assert emulator_http.delete(f"/v1/voices/{voice_ids[0]}").json() == {"status": "ok"}
    assert emulator_http.get("/v1/user/subscription").json()["voice_slots_used"] == 29
    create_voice(name="after delete")

    assert emulator_http.get("/v1/user/subscription").json()["voice_slots_used"] == 30


def test_premade_voices_are_listed_but_not_counted(emulator_http, emulator_control, create_voice):
    voice_id = create_voice()

    voices = emulator_http.get("/v1/voices").json()["voices"]
    subscription = emulator_http.get("/v1/user/subscription").json()

    categories = {v["voice_id"]: v["category"] for v in voices}
    assert categories[voice_id] == "cloned"
    assert list(categories.values()).count("premade") >= 3
    assert subscription["voice_slots_used"] == 1
    assert emulator_control.voice_ids() == [voice_id]


def test_premade_voice_cannot_be_deleted(emulator_http, emulator_control):
    premade_id = emulator_control.state()["premade_voice_ids"][0]

    response = emulator_http.delete(f"/v1/voices/{premade_id}")

    assert response.status_code == 400
    assert emulator_http.get(f"/v1/voices/{premade_id}").status_code == 200


def test_empty_upload_is_rejected(emulator_http):
    response = emulator_http.post("/v1/voices/add", data={"name": "x"}, files=[("files", ("a.mp3", b"", "audio/mpeg"))])

    assert response.status_code == 400
    assert response.json()["detail"]["code"] == "invalid_audio"
