"""A real django-q2 cluster whose worker is killed (SIGKILL) right after the provider created the voice and
before the database recorded it: the retried run adopts that voice, and the account ends with exactly one
provider voice for the run.

The cluster runs `manage.py qcluster` in a subprocess on the ORM broker. The pytest database is in memory
(and per xdist worker), so this test keeps its own SQLite file, migrated and filled by subprocesses
(`cluster_scenario.py`); only the emulator (in this process) is shared. The emulator's `latency_after`
fault applies the create, then holds the answer, which is when the worker dies.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180


def _env(tmp_path: Path, emulator_url: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "DATABASE_URL", "REDIS_URL", "Q_", "RETRAIN_", "PYTEST_XDIST"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "voiceclone.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "ELEVENLABS_API_KEY": "test-key",
        "ELEVENLABS_BASE_URL": emulator_url,
        "ELEVENLABS_TIMEOUT_S": "300",  # the held answer must not time out: the worker dies first
        "PROVIDER_BACKOFF_BASE_S": "0.01",
        "PROVIDER_BACKOFF_MAX_S": "0.05",
        "Q_WORKERS": "1",
        "Q_POLL_S": "0.1",
        "Q_TIMEOUT_S": "300",
        # The run's lease: once the killed worker's claim is this old, a retried task may take the run.
        "RETRAIN_RUN_LEASE_S": "2",
        # The test takes each step itself (kill, look, sweep): the cluster's own stuck-work sweep would
        # otherwise resume the run before the test looks at it (tests/reliability covers that sweep).
        "STUCK_WORK_SWEEP_S": "0",
        "LLM_BASE_URL": "",
        "DEBUG": "true",
    })
    return env


def _run(env, *args, timeout=TIMEOUT_S) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _scenario(env, *args) -> dict:
    out = _run(env, "-m", "tests.retraining.cluster_scenario", *args)
    return json.loads(out.strip().splitlines()[-1])


def _wait_for(predicate, what: str, timeout_s: float = TIMEOUT_S, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out waiting for {what}")


# --- finding the worker that holds the connection to the emulator (Linux /proc) ---------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _descendants(pid: int) -> list[int]:
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _inodes_connected_to(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    return inodes


def _process_holding_connection(root_pid: int, port: int) -> int | None:
    wanted = _inodes_connected_to(port)
    for pid in _descendants(root_pid):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in wanted for link in links):
            return pid
    return None


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to find the worker")
def test_worker_killed_after_the_provider_create_the_retry_adopts_the_voice(emulator, emulator_ctl, tmp_path):
    env = _env(tmp_path, emulator.url)
    _run(env, "manage.py", "migrate", "--noinput")
    scenario = _scenario(env, "setup")
    run_id, label = str(scenario["run_id"]), scenario["label"]

    def labelled():
        return [v for v in emulator_ctl.state()["voices"] if v.get("description") == label]

    # The provider applies the create, then holds its answer for 90 s: long enough to kill the worker.
    emulator_ctl.add_fault(path=r"^/v1/voices/add$", method="POST", mode="latency_after", delay_s=90, count=1)
    log = open(tmp_path / "qcluster.log", "w")
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(labelled, "the provider to create the run's voice")
        port = int(emulator.url.rsplit(":", 1)[1])
        worker = _wait_for(lambda: _process_holding_connection(cluster.pid, port), "the worker's connection")
        os.kill(worker, signal.SIGKILL)

        # The database never heard of the voice: the run is still `running`, with its intent recorded.
        before = _scenario(env, "status", run_id)
        assert before["state"] == "running" and before["create_requested"], before
        assert before["new_provider_voice_id"] is None

        # Once the dead worker's lease expires, the minute sweep re-enqueues the run; the cluster's new
        # worker (the sentinel replaces the killed one) claims it and adopts the voice.
        time.sleep(2.5)
        if cluster.poll() is not None:  # pragma: no cover - the sentinel normally survives a worker's death
            pytest.fail(f"the cluster died with its worker:\n{(tmp_path / 'qcluster.log').read_text()}")
        swept = _scenario(env, "sweep")
        assert int(run_id) in swept["re_enqueued"], swept
        after = _wait_for(
            lambda: (s := _scenario(env, "status", run_id))["state"] not in ("running", "approved") and s,
            "the retried run to finish",
        )
    finally:
        os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait(timeout=30)
        log.close()

    cluster_log = (tmp_path / "qcluster.log").read_text()
    assert after["state"] == "candidate", (after, cluster_log[-4000:])
    assert "reincarnated worker" in cluster_log, cluster_log[-4000:]  # the killed process was the worker
    voices = labelled()
    assert len(voices) == 1, voices  # exactly one provider voice for the run: adopted, not created again
    assert after["new_provider_voice_id"] == voices[0]["voice_id"]
    creates = [r for r in emulator_ctl.requests(path=r"^/v1/voices/add$", method="POST")
               if r.get("fields", {}).get("description") == label]
    assert len(creates) == 1
    assert after["attempt_count"] == 2
