"""`manage.py run_local` (what `make run` starts): the web server and a task worker as one
command. Run for real, in subprocesses, on a SQLite file: Ctrl-C stops both; if either
dies, the other is stopped too."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def local_env(tmp_path_factory):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('run_local') / 'db.sqlite3'}",
        "DEBUG": "false",  # no autoreloaders: fewer processes, faster start
        "TASKS_BACKEND": "database",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(env) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_local", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200 and worker_pid(process):
                    return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"run_local did not start: {process.communicate()}")


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def worker_pid(process) -> int | None:
    return next((p for p in children(process.pid) if "db_worker" in command_line(p)), None)


def serving(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_the_server_and_the_worker(local_env):
    process, port = start(local_env)
    spawned = children(process.pid)
    assert len(spawned) == 2
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert not serving(port)
    assert not any(Path(f"/proc/{pid}").exists() for pid in spawned)


def test_a_dead_worker_stops_the_server_too(local_env):
    process, port = start(local_env)
    os.kill(worker_pid(process), signal.SIGKILL)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 1
    assert "The task worker exited (status -9); stopped the web server." in err
    assert not serving(port)
