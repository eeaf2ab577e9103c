"""CPU instructions per webhook, the peer's beside the voice webhook's, counted by callgrind.

`make bench` measures req/s under gunicorn, which the machine's other work moves by tens
of percent; `bench/webhook_cpu.py` counts CPU time, which moves less but still moves.
This counts instructions, which do not move at all: the same code gives the same count
to within 0.5% on a busy machine, so a change of 2% can be measured, and two versions of
the code compared, one after the other.

What it runs is what a gunicorn worker runs for a request, in one process: the project's
WSGI application (`config.wsgi`, production settings with bench/settings.py's URLconf,
the light webhook stack), called with the signed requests bench/run.py sends (the
demo's number and its main menu, fresh CallSids), the call log writer's batches written
every 100 requests in the same process, as under load (its thread would write batches
of about that size at bench/run.py's rate). For each tree and kind it runs the process
twice under `valgrind --tool=callgrind`, with 100 and with 100 + N requests after the same
warm-up, so start-up cancels out: (total(100 + N) - total(100)) / N is one request.

    .venv/bin/python bench/webhook_instructions.py                      # peer, voice, gather
    .venv/bin/python bench/webhook_instructions.py --trees /tmp/old,.   # two versions
    .venv/bin/python bench/webhook_instructions.py --kinds voice --no-writes

Each run is a subprocess of its own (that tree's code, this virtualenv) on a fresh SQLite
file. Needs valgrind (Debian: apt-get install valgrind); about 2.5 minutes per tree and
kind, two at a time. The ratio peer/voice is bench/run.py's voice/peer, measured without
the machine: in a 16-connection run the kernel's and wrk's share of each request pulls
the req/s ratio a little towards 1.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

WARM = 300  # requests before counting: the release, the flows, the writer
SMALL = 100
BATCH = 100  # requests per call log batch


def child(kind: str, requests: int, no_writes: bool) -> None:
    """The measured process: seed, warm up, then `requests` requests of `kind`."""
    import io
    import json
    from urllib.parse import urlencode

    tree = os.environ["WEBHOOK_TREE"]  # its code first: this script may be another tree's
    sys.path[:0] = [str(Path(tree) / "bench"), tree]
    import run as bench  # that tree's bench/run.py

    bench.WORK.mkdir(parents=True, exist_ok=True)
    env = bench.server_env(bench.prepare_database("sqlite", ""), 8999, {})
    bench.django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    info = json.loads(bench.django(env, "bench/data.py", "seed"))
    os.environ.update(env)
    import logging

    import telephony
    from config.wsgi import application
    from telephony.logs import calls

    if not Path(telephony.__file__).is_relative_to(tree):
        sys.exit(f"would measure {telephony.__file__}, not the code of {tree}")

    logging.disable(logging.CRITICAL)  # the log line is the peer's too; not its I/O
    base = env["TELEPHONY_PUBLIC_URL"]
    number, gather = bench.menu_under_test(info, "demo")
    writer = calls.writer()
    writer.delay = 10**6  # its thread never writes: this process writes each batch
    if no_writes:
        writer.submit = lambda record: None

    def environ(path: str, params: dict) -> dict:
        body = urlencode(params).encode()
        return {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8999",
            "HTTP_HOST": "127.0.0.1:8999",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_TWILIO_SIGNATURE": bench._validator.compute_signature(base + path, params),
            "wsgi.input": body,
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    def requests_of(run: str, n: int) -> list[dict]:
        path = {"peer": bench.PEER_PATH, "voice": "/twilio/voice/", "gather": gather}[kind]
        out = []
        for i in range(n):
            params = bench.voice_params(bench.sid("CA", run, i), number)
            if kind == "gather":
                params = {**params, "CallStatus": "in-progress", "Digits": "1"}
            out.append(environ(path, params))
        return out

    def send(prepared: list[dict]) -> None:
        for i, request in enumerate(prepared):
            request["wsgi.input"] = io.BytesIO(request["wsgi.input"])
            status: list[str] = []
            b"".join(
                application(request, lambda line, headers, info=None, s=status: s.append(line))
            )
            if not status[0].startswith("200"):
                sys.exit(f"{kind} answered {status[0]}")
            if i % BATCH == BATCH - 1:
                calls.flush()
        calls.flush()

    send(requests_of("00000000", WARM))
    send(requests_of("11111111", requests))


def instructions(tree: Path, kind: str, requests: int, no_writes: bool, workdir: Path) -> int:
    out = workdir / f"callgrind.{kind}.{requests}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        str(requests),
        *(["--no-writes"] if no_writes else []),
    ]
    env = dict(
        os.environ, WEBHOOK_TREE=str(tree), BENCH_WORKDIR=str(workdir / f"{kind}-{requests}")
    )
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{tree} {kind}: failed\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    for line in out.read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    sys.exit(f"no total in {out}")


def per_request(tree: Path, kind: str, calls: int, no_writes: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="webhook-instructions-") as name:
        workdir = Path(name)
        with ThreadPoolExecutor(2) as pool:  # the two counts, side by side
            small, large = pool.map(
                lambda n: instructions(tree, kind, n, no_writes, workdir), (SMALL, SMALL + calls)
            )
    return (large - small) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", default=".", help="checkouts to compare, comma-separated")
    parser.add_argument("--kinds", default="peer,voice,gather")
    parser.add_argument("--calls", type=int, default=300, help="requests counted (default 300)")
    parser.add_argument("--no-writes", action="store_true", help="queue no call rows or events")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.no_writes)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    kinds = args.kinds.split(",")
    for tree in (Path(name).resolve() for name in args.trees.split(",")):
        counts = {kind: per_request(tree, kind, args.calls, args.no_writes) for kind in kinds}
        figures = "  ".join(f"{kind} {count / 1e6:.3f} M" for kind, count in counts.items())
        ratios = ""
        if "peer" in counts:
            ratios = "  ".join(
                f"{kind}/peer {counts['peer'] / counts[kind]:.3f}"
                for kind in kinds
                if kind != "peer"
            )
        print(f"{tree}: {figures}  {ratios}".rstrip(), flush=True)


if __name__ == "__main__":
    main()
