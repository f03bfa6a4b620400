"""Fault injection through the control API and the ELEVENLABS_EMULATOR_FAULTS variable."""

import json
import time

import httpx
import pytest

from voiceclone.emulator import FAULTS_ENV, EmulatorServer
from voiceclone.emulator.control import EmulatorControl, EmulatorControlError


def test_status_fault_fails_count_requests_then_lets_them_through(emulator_http, emulator_control):
    emulator_control.add_fault(path=r"^/v1/user/subscription$", method="GET", status=503, count=2)

    statuses = [emulator_http.get("/v1/user/subscription").status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert emulator_control.faults() == []


def test_429_concurrency_fault_has_both_status_and_code_and_retry_after(emulator_http, emulator_control):
    emulator_control.add_fault(path="/v1/voices", status=429, retry_after=1)

    response = emulator_http.get("/v1/voices")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    detail = response.json()["detail"]
    assert detail["status"] == "too_many_concurrent_requests"
    assert detail["code"] == "concurrent_limit_exceeded"
    assert detail["message"]


def test_429_system_busy_without_retry_after(emulator_http, emulator_control):
    emulator_control.add_fault(path="/v1/voices", status=429, error_status="system_busy")

    response = emulator_http.get("/v1/voices")

    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert response.json()["detail"]["status"] == response.json()["detail"]["code"] == "system_busy"


def test_plain_text_500(emulator_http, emulator_control):
    emulator_control.add_fault(path="/v1/user", status=500, plain_text=True)

    response = emulator_http.get("/v1/user")

    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["content-type"].startswith("text/plain")


def test_json_5xx_body(emulator_http, emulator_control):
    emulator_control.add_fault(path="/v1/user", status=503)

    detail = emulator_http.get("/v1/user").json()["detail"]

    assert detail["code"] == detail["status"] == "service_unavailable"


def test_voice_not_found_fault_names_the_voice_in_the_path(emulator_http, emulator_control, create_voice):
    voice_id = create_voice()
    emulator_control.add_fault(path=r"^/v1/text-to-speech/", status=404, error_status="voice_not_found")

    response = emulator_http.post(f"/v1/text-to-speech/{voice_id}", json={"text": "hi"})

    assert response.status_code == 404
    assert response.json()["detail"]["message"] == f"A voice with the voice_id {voice_id} was not found."


def test_legacy_400_voice_does_not_exist_fault(emulator_http, emulator_control, create_voice):
    voice_id = create_voice()
    emulator_control.add_fault(path=r"^/v1/text-to-speech/", status=400, error_status="voice_does_not_exist")

    response = emulator_http.post(f"/v1/text-to-speech/{voice_id}", json={"text": "hi"})

    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail["status"] == detail["code"] == "voice_does_not_exist"
    assert detail["message"] == f"A voice for the voice_id {voice_id} was not found."


def test_method_filter_and_forever_count(emulator_http, emulator_control):
    emulator_control.add_fault(path="^/v1/voices", method="DELETE", status=500, count=None)

    assert emulator_http.get("/v1/voices").status_code == 200
    assert [emulator_http.delete("/v1/voices/x").status_code for _ in range(3)] == [500, 500, 500]
    assert emulator_control.faults()[0]["hits"] == 3


def test_latency_fault_delays_then_answers_normally(emulator_http, emulator_control):
    emulator_control.add_fault(path="/v1/user", mode="latency", delay_s=0.3)

    started = time.monotonic()
    response = emulator_http.get("/v1/user")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_drop_closes_the_connection_without_a_response(emulator_server, emulator_control):
    emulator_control.add_fault(path="/v1/user", mode="drop")

    with httpx.Client(base_url=emulator_server.url, headers={"xi-api-key": "k"}) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/user")
        assert client.get("/v1/user").status_code == 200  # the next request gets through


def test_timeout_fault_outlasts_a_short_client_timeout(emulator_server, emulator_control):
    emulator_control.add_fault(path="/v1/user", mode="timeout", delay_s=1.0)

    with httpx.Client(base_url=emulator_server.url, headers={"xi-api-key": "k"}, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/user")


def test_timeout_fault_drops_even_for_a_patient_client(emulator_server, emulator_control):
    emulator_control.add_fault(path="/v1/user", mode="timeout", delay_s=0.2)

    with httpx.Client(base_url=emulator_server.url, headers={"xi-api-key": "k"}, timeout=5) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/user")


def test_faulted_requests_are_recorded(emulator_http, emulator_control):
    fault_id = emulator_control.add_fault(path="/v1/voices/add", status=429)

    emulator_http.post("/v1/voices/add", data={"name": "A"}, files=[("files", ("a.mp3", b"abc", "audio/mpeg"))])

    (entry,) = emulator_control.requests(path="/v1/voices/add")
    assert entry["status"] == 429
    assert entry["fault"] == fault_id
    assert entry["fields"] == {"name": "A"}
    assert entry["files"][0]["size"] == 3


def test_clear_faults(emulator_http, emulator_control):
    emulator_control.add_fault(path="/", status=500, count=None)
    emulator_control.clear_faults()

    assert emulator_http.get("/v1/user").status_code == 200


def test_invalid_fault_spec_is_refused(emulator_control):
    with pytest.raises(EmulatorControlError, match="400"):
        emulator_control.add_fault(path="(", status=500)
    with pytest.raises(EmulatorControlError, match="400"):
        emulator_control.add_fault(path="/v1", mode="status")


def test_faults_preset_from_the_environment(monkeypatch):
    monkeypatch.setenv(FAULTS_ENV, json.dumps([{"path": "/v1/user$", "status": 503, "count": 1}]))
    server = EmulatorServer(port=0).start()
    try:
        with httpx.Client(base_url=server.url, headers={"xi-api-key": "k"}) as client:
            assert [client.get("/v1/user").status_code for _ in range(2)] == [503, 200]
        assert EmulatorControl(server.url).faults() == []
    finally:
        server.stop()


def test_drop_after_applies_the_request_then_loses_the_answer(emulator_server, emulator_control, tone):
    import httpx

    emulator_control.add_fault(path=r"^/v1/voices/add$", method="POST", mode="drop_after")
    with pytest.raises(httpx.HTTPError):
        httpx.post(
            f"{emulator_server.url}/v1/voices/add",
            headers={"xi-api-key": "k"},
            data={"name": "Lost answer"},
            files=[("files", ("a.wav", tone(1.0, audio_format="WAV"), "audio/wav"))],
            timeout=5,
        )
    assert [v["name"] for v in emulator_control.state()["voices"]] == ["Lost answer"]
    assert emulator_control.requests()[-1]["dropped"] is True


def test_latency_after_applies_the_request_before_the_delay(emulator_server, emulator_control, tone):
    import threading

    import httpx

    emulator_control.add_fault(path=r"^/v1/voices/add$", method="POST", mode="latency_after", delay_s=1.0)
    done = threading.Event()

    def create():
        httpx.post(f"{emulator_server.url}/v1/voices/add", headers={"xi-api-key": "k"},
                   data={"name": "Slow answer"}, files=[("files", ("a.wav", tone(1.0, audio_format="WAV"), "audio/wav"))], timeout=5)
        done.set()

    threading.Thread(target=create, daemon=True).start()
    for _ in range(100):
        if emulator_control.state()["voices"]:
            break
        done.wait(0.02)
    assert [v["name"] for v in emulator_control.state()["voices"]] == ["Slow answer"]
    assert done.wait(5)
