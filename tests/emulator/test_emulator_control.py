"""The control API, authentication and HTTP framing of the emulator."""

import hashlib

import pytest
import subprocess
import sys
from pathlib import Path

import httpx

from voiceclone.emulator import EmulatorServer
from voiceclone.emulator.control import EmulatorControl


def test_missing_api_key_is_401_invalid_api_key(emulator_server):
    response = httpx.get(f"{emulator_server.url}/v1/voices")

    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail["status"] == detail["code"] == "invalid_api_key"
    assert detail["message"] == "Invalid API key"


def test_only_configured_keys_are_accepted():
    server = EmulatorServer(port=0, api_keys=["right"]).start()
    try:
        wrong = httpx.get(f"{server.url}/v1/user", headers={"xi-api-key": "wrong"})
        right = httpx.get(f"{server.url}/v1/user", headers={"xi-api-key": "right"})
    finally:
        server.stop()

    assert wrong.status_code == 401
    assert wrong.json()["detail"]["code"] == "invalid_api_key"
    assert right.status_code == 200


def test_control_endpoints_need_no_key(emulator_server):
    assert httpx.get(f"{emulator_server.url}/_emulator/state").status_code == 200


def test_unknown_path_and_method_answer_like_fastapi(emulator_http):
    assert emulator_http.get("/v1/nothing-here").json() == {"detail": "Not Found"}
    assert emulator_http.put("/v1/voices").status_code == 405


def test_reset_wipes_voices_usage_faults_and_log(emulator_http, emulator_control, create_voice):
    voice_id = create_voice()
    emulator_http.post(f"/v1/text-to-speech/{voice_id}", json={"text": "hello"})
    emulator_control.add_fault(path="/nothing", status=500)

    emulator_control.reset(voice_limit=5)

    state = emulator_control.state()
    assert state["voices"] == []
    assert (state["voice_slots_used"], state["voice_limit"], state["character_count"]) == (0, 5, 0)
    assert emulator_control.faults() == []
    assert emulator_control.requests() == []
    emulator_control.reset()
    assert emulator_control.state()["voice_limit"] == 30  # back to the server default


def test_state_shows_samples_with_sha256_and_timbre(emulator_control, create_voice, tone):
    data = tone(1.0)
    voice_id = create_voice(files=[("a.mp3", data, "audio/mpeg")])

    (voice,) = emulator_control.state()["voices"]

    assert voice["voice_id"] == voice_id
    assert voice["samples"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    # The sample is a 220 Hz tone: the voice's register is estimated from it (within the clone's < 1 % nudge).
    assert voice["emulator"]["timbre"]["median_pitch_hz"] == pytest.approx(220, rel=0.02)
    assert voice["emulator"]["generation"] == 0


def test_request_log_records_fields_files_and_json(emulator_http, emulator_control, create_voice, tone):
    data = tone(0.5)
    voice_id = create_voice(name="Logged", files=[("x.mp3", data, "audio/mpeg")], description="d")
    emulator_http.post(f"/v1/text-to-speech/{voice_id}", params={"output_format": "mp3_22050_32"}, json={"text": "hi"})

    add, tts = emulator_control.requests()

    assert (add["method"], add["path"], add["status"]) == ("POST", "/v1/voices/add", 200)
    assert add["fields"] == {"name": "Logged", "labels": "null", "description": "d"}
    assert add["files"] == [
        {"field": "files", "filename": "x.mp3", "content_type": "audio/mpeg", "size": len(data),
         "sha256": hashlib.sha256(data).hexdigest()}
    ]
    assert tts["json"] == {"text": "hi"}
    assert tts["query"] == {"output_format": "mp3_22050_32"}
    assert isinstance(tts["at"], float)
    assert emulator_control.requests(path="text-to-speech") == [tts]


def test_configure_latency_applies_to_api_requests(emulator_http, emulator_control):
    config = emulator_control.configure(latency_ms=150)

    response = emulator_http.get("/v1/user")

    assert config["latency_ms"] == 150
    assert response.elapsed.total_seconds() >= 0.15


def test_keep_alive_connection_is_reused(emulator_server):
    opened_before = emulator_server.connections_opened
    with httpx.Client(base_url=emulator_server.url, headers={"xi-api-key": "k"}) as client:
        first = client.get("/v1/user")
        second = client.get("/v1/voices")
        streamed = client.post("/v1/text-to-speech/unknownVoice00000000/stream", json={"text": "x"})
        third = client.get("/v1/user/subscription")

    assert [first.status_code, second.status_code, streamed.status_code, third.status_code] == [200, 200, 404, 200]
    assert first.headers["server"] == "uvicorn"
    assert emulator_server.connections_opened == opened_before + 1


def test_stop_releases_the_port():
    server = EmulatorServer(port=0).start()
    url = server.url
    EmulatorControl(url).state()

    server.stop()

    try:
        httpx.get(f"{url}/_emulator/state", timeout=1)
    except httpx.ConnectError:
        return
    raise AssertionError("the emulator still answers after stop()")


def test_the_emulator_package_does_not_import_django():
    # It must run standalone (bench, subprocesses) and must not drag Django into the SDK tests.
    code = (
        "import sys; import voiceclone.emulator, voiceclone.emulator.control; "
        "sys.exit(1 if any(name.split('.')[0] == 'django' for name in sys.modules) else 0)"
    )

    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], check=False)

    assert result.returncode == 0
