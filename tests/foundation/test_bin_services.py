"""bin/run's service start (bin/services) as a newcomer sees it: one clear line per service and no traceback
while it waits for the emulator; Ctrl-C stops every process it started.

Runs the real thing in a subprocess (emulator, migrations and demo data on a fresh SQLite file, the
django-q2 cluster, the web server), then sends SIGINT to its process group as a terminal's Ctrl-C does,
and checks by process state that everything is gone. The time it took is printed, not asserted.
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Press Ctrl-C to stop everything."

pytestmark = pytest.mark.cluster


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def proc_stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a process, or None when it no longer exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every process below `root` (children of children included), with its start time."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))):
            parents[int(entry.name)] = (stat[1], stat[2])
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, started) in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def still_running(pid: int, started: str) -> bool:
    stat = proc_stat(pid)
    # Gone, finished (a zombie waiting to be reaped runs nothing), or a new process that reused the pid.
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == started


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process state from /proc")
def test_bin_services_starts_quietly_and_ctrl_c_stops_every_process(tmp_path):
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REDIS_", "ELEVENLABS_", "AWS_", "LLM_", "PYTEST_"))
        and key not in ("DATABASE_URL", "LOG_LEVEL")
    }
    env.update({
        "DJANGO_SETTINGS_MODULE": "voiceclone.settings",
        "PORT": str(free_port()), "EMULATOR_PORT": str(free_port()), "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
        "Q_WORKERS": "1",
    })
    supervisor = subprocess.Popen(
        [sys.executable, "bin/services"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
        # A terminal's Ctrl-C: the default SIGINT disposition (pytest-xdist workers may ignore it).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in supervisor.stdout] and lines.put(None),
                     daemon=True).start()
    output = []
    try:
        deadline = time.monotonic() + 300  # migrations and the demo clone on a slow machine
        while not output or READY_LINE not in output[-1]:
            line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
            assert line is not None, "bin/services ended before it was ready:\n" + "".join(output)
            output.append(line)
        processes = descendants(supervisor.pid)
        # What runs is what production runs: uvicorn (ASGI), static files from WhiteNoise.
        site = f"http://127.0.0.1:{env['PORT']}"
        with urllib.request.urlopen(f"{site}/login/", timeout=30) as page:
            server = page.headers["server"]
        with urllib.request.urlopen(f"{site}/static/css/site.css", timeout=30) as css:
            css_status, css_type = css.status, css.headers["content-type"]

        started = time.monotonic()
        os.killpg(supervisor.pid, signal.SIGINT)
        exit_code = supervisor.wait(timeout=60)
        took = time.monotonic() - started
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            for pid in descendants(supervisor.pid):
                os.kill(pid, signal.SIGKILL)
    while (line := lines.get(timeout=10)) is not None:
        output.append(line)
    text = "".join(output)
    print(f"\n{text}\nCtrl-C to exit: {took:.2f} s for {len(processes)} processes")

    assert "Traceback" not in text and "Error" not in text, text
    names = [line.split()[0] for line in output if line.startswith("  ")]
    assert names == ["emulator", "database", "demo", "qcluster", "web"], text
    assert server == "uvicorn"
    assert css_status == 200 and css_type.startswith("text/css")
    assert f"http://127.0.0.1:{env['PORT']}/" in text
    # emulator, cluster (main, sentinel, 1 worker, monitor, pusher) and web server, at least
    assert len(processes) >= 7, processes
    assert exit_code == 0, text
    assert "stopped 3 service(s)" in text
    left = [pid for pid, start in processes.items() if still_running(pid, start)]
    assert left == [], f"still running after Ctrl-C: {left}"


def test_a_second_bin_run_on_taken_ports_says_so_and_starts_nothing(tmp_path):
    """Seen from outside: a second bin/run with the same EMULATOR_PORT printed "emulator … ready" (the first
    run's emulator answered its readiness check while its own failed to bind), went on to migrate and seed,
    and overwrote the first run's logs. It now stops at once with one clear line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "ELEVENLABS_", "PYTEST_")) and key != "DATABASE_URL"
        }
        env.update({"DJANGO_SETTINGS_MODULE": "voiceclone.settings", "PORT": str(free_port()),
                    "EMULATOR_PORT": str(port), "VAR_DIR": str(tmp_path / "var"),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
        result = subprocess.run([sys.executable, "bin/services"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=120)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"port {port} is already in use" in result.stdout and "EMULATOR_PORT=" in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "emulator  http" not in result.stdout  # no service was reported ready
    assert not list((tmp_path / "var").glob("*.log"))  # nothing started, no log written
