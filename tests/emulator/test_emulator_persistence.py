"""State file: voices, sample audio, usage and spoken clips survive a restart."""

import json

import httpx
import pytest

from voiceclone.emulator import EmulatorServer


@pytest.fixture
def state_file(tmp_path):
    return tmp_path / "emulator-state.json"


def _client(server):
    return httpx.Client(base_url=server.url, headers={"xi-api-key": "k"}, timeout=30)


def test_voices_samples_usage_and_transcripts_survive_a_restart(state_file, tone):
    sample = tone(1.0)
    first = EmulatorServer(port=0, state_file=state_file).start()
    try:
        with _client(first) as http:
            voice_id = http.post(
                "/v1/voices/add", data={"name": "Kept", "labels": '{"language": "en"}'},
                files=[("files", ("kept.mp3", sample, "audio/mpeg"))],
            ).json()["voice_id"]
            spoken = http.post(f"/v1/text-to-speech/{voice_id}", json={"text": "Remember me."}).content
            voice_before = http.get(f"/v1/voices/{voice_id}").json()
    finally:
        first.stop()

    second = EmulatorServer(port=0, state_file=state_file).start()
    try:
        with _client(second) as http:
            voice_after = http.get(f"/v1/voices/{voice_id}").json()
            sample_id = voice_after["samples"][0]["sample_id"]
            audio = http.get(f"/v1/voices/{voice_id}/samples/{sample_id}/audio").content
            subscription = http.get("/v1/user/subscription").json()
            transcript = http.post(
                "/v1/speech-to-text", data={"model_id": "scribe_v1"}, files={"file": ("r.mp3", spoken, "audio/mpeg")}
            ).json()
            spoken_again = http.post(f"/v1/text-to-speech/{voice_id}", json={"text": "Remember me."}).content
    finally:
        second.stop()

    assert voice_after == voice_before
    assert audio == sample
    assert (subscription["voice_slots_used"], subscription["character_count"]) == (1, len("Remember me."))
    assert transcript["text"] == "Remember me."
    assert spoken_again == spoken  # same timbre after the restart


def test_state_file_is_json_and_blobs_follow_deletions(state_file, tone):
    server = EmulatorServer(port=0, state_file=state_file).start()
    try:
        with _client(server) as http:
            voice_id = http.post(
                "/v1/voices/add", data={"name": "Gone"}, files=[("files", ("a.mp3", tone(), "audio/mpeg"))]
            ).json()["voice_id"]
            blobs = state_file.with_name(state_file.name + ".blobs")
            assert len(list(blobs.iterdir())) == 1
            http.delete(f"/v1/voices/{voice_id}")
    finally:
        server.stop()

    document = json.loads(state_file.read_text())
    assert document["voices"] == []
    assert list(blobs.iterdir()) == []
    assert not [p for p in state_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_configuration_comes_from_the_constructor_not_the_file(state_file):
    EmulatorServer(port=0, state_file=state_file, voice_limit=3).stop()
    server = EmulatorServer(port=0, state_file=state_file, voice_limit=7).start()
    try:
        with _client(server) as http:
            assert http.get("/v1/user/subscription").json()["voice_limit"] == 7
    finally:
        server.stop()


def test_unreadable_state_file_refuses_to_start(state_file):
    state_file.write_text("{not json")

    with pytest.raises(RuntimeError, match="cannot read emulator state file"):
        EmulatorServer(port=0, state_file=state_file)
