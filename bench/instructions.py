"""Instructions per request in a real gunicorn worker, counted by valgrind's callgrind.

    .venv/bin/python bench/instructions.py                # baseline, voice, gather on SQLite
    .venv/bin/python bench/instructions.py --db postgres --kinds voice
    .venv/bin/python bench/instructions.py --kinds peer,voice,gather --menu bench

Unlike req/s, an instruction count does not depend on what else the machine is doing, so
two versions of the code (or two settings) can be compared on a shared machine. For each
endpoint it starts gunicorn as bench/run.py does (production settings, one sync worker)
under callgrind with GUNICORN_MAX_REQUESTS=N, sends N requests one at a time, and reads
the worker's total when it exits; once with N1 and once with N2 requests, so start-up and
shut-down cancel out: (total(N2) - total(N1)) / (N2 - N1) is what one request costs.
The kinds are bench/run.py's: baseline, trivial, peer, voice, gather.

Requests go one at a time, so each voice call is written in a batch of its own: under load
the call log writer's batches hold hundreds of rows and a row costs less than here.
Needs valgrind (Debian: apt-get install valgrind); takes about a minute per endpoint.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from run import BIN, ROOT, WORK, django, pools_for_a_round, prepare_database, server_env

PORT = int(os.environ.get("BENCH_PORT", "8799"))  # another on a shared machine


def wait_for_port(deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).connect()
            return  # a connection without a request: gunicorn does not count it
        except OSError:
            time.sleep(0.5)
    sys.exit("gunicorn under valgrind did not listen within 120 s")


def send(requests: list[list[str]]) -> None:
    for method, path, signature, body in requests:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        headers = {}
        if method == "POST":
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            }
        connection.request(method, path, body=body if method == "POST" else None, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            sys.exit(f"{method} {path} answered {response.status}")


def worker_total(env: dict, requests: list[list[str]], out: Path) -> int:
    """Instructions the one worker executed, from its start to its exit after the requests."""
    for old in out.glob("callgrind.out.*"):
        old.unlink()
    env = dict(env, GUNICORN_MAX_REQUESTS=str(len(requests)))
    master = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p"]
        + [str(BIN / "python"), str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(time.monotonic() + 120)
        send(requests)
        worker = None
        deadline = time.monotonic() + 120
        while worker is None and time.monotonic() < deadline:
            time.sleep(1)  # the worker writes its file as it exits, after the last request
            files = [f for f in out.glob("callgrind.out.*") if f.suffix != f".{master.pid}"]
            done = [f for f in files if b"\ntotals:" in f.read_bytes()]
            worker = min(done, key=lambda f: int(f.suffix[1:]), default=None)
        if worker is None:
            sys.exit("the worker did not exit after its requests")
    finally:
        os.killpg(master.pid, signal.SIGKILL)
        master.wait()
    for line in worker.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    sys.exit(f"no totals in {worker}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite", help="sqlite or postgres")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/sb_bench")
    parser.add_argument("--kinds", default="baseline,voice,gather")
    parser.add_argument("--requests", default="50,250", help="N1,N2")
    parser.add_argument("--menu", choices=("demo", "bench"), default="demo", help="as run.py's")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is needed: apt-get install valgrind")
    n1, n2 = (int(n) for n in args.requests.split(","))
    WORK.mkdir(parents=True, exist_ok=True)
    url = prepare_database(args.db, args.pg_url)
    if url is None:
        return 1
    env = server_env(url, PORT, {"WEB_CONCURRENCY": "1", "GUNICORN_MAX_REQUESTS_JITTER": "0"})
    env["GUNICORN_TIMEOUT"] = "600"  # valgrind is ~50 times slower
    django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    info = json.loads(django(env, "bench/data.py", "seed"))
    out = WORK / "callgrind"
    out.mkdir(exist_ok=True)
    base = env["TELEPHONY_PUBLIC_URL"]
    per_request = {}
    for kind in args.kinds.split(","):
        pool = pools_for_a_round(base, info, 0.1, args.menu)[kind]  # fresh SIDs: every call is new
        lines = [line.rstrip("\n").split("\t") for line in pool.open()]
        totals = [worker_total(env, (lines * n2)[:n], out) for n in (n1, n2)]
        per_request[kind] = (totals[1] - totals[0]) / (n2 - n1)
        print(f"{kind:<10} {per_request[kind] / 1e6:6.3f} M instructions per request", flush=True)
    if "baseline" in per_request:
        for kind, count in per_request.items():
            if kind != "baseline":
                print(f"baseline/{kind}: {per_request['baseline'] / count:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
