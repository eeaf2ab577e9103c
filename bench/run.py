"""Benchmark and soak of Twilio's webhooks under gunicorn, set up as in production.

    make bench                 # both databases: req/s, p50/p99, ratios, PASS/FAIL per target
    make soak                  # 60 s at 64 connections mixing voice, Gather, SMS, status
    .venv/bin/python bench/run.py --help

For each database (SQLite file, PostgreSQL database `sb_bench` on 127.0.0.1, or
BENCH_DATABASE_URL) it migrates and seeds a fresh database (bench/data.py), starts gunicorn
with config/gunicorn.conf.py and the production settings plus the peer views' URLconf
(bench/settings.py: 2 workers, DEBUG off, JSON webhook logs), and drives it over loopback
with wrk (bench/pool.lua). Five kinds of request, each signed one with its own CallSid:

    voice     POST /twilio/voice/ for the demo number (its main menu; --menu bench: the
              10-step menu the figures up to 2026-11-30 used)
    gather    the Gather round trip: Digits=1 to the menu's Gather, rendering the option's flow
    peer      POST /twilio/bench/peer/ (bench/peer.py): RequestValidator + the same menu
              built with VoiceResponse on every request, no database
    trivial   GET /twilio/bench/trivial/: a fixed string
    baseline  GET /healthz: a fixed string through every middleware of the site

The first four go through the webhooks' light handler (telephony/webhooks/handler.py), as
in production. They are measured in interleaved rounds, each round in another order; each
ratio printed is the median of the rounds' own ratios, so a burst of other work on a
shared machine skews one round, not the result. Then it seeds 10,000 numbers and 1,000
flows of 50 steps and measures again. It ends with PASS/FAIL for each of TARGETS, and
exits with status 1 when any fails. bench/README.md has the targets and the history.

Everything it starts stops by itself: wrk runs for fixed durations, and the servers are
killed at exit (also on Ctrl-C). Only 127.0.0.1 is ever targeted.
"""

import argparse
import atexit
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORK = Path(os.environ.get("BENCH_WORKDIR", "/tmp/switchboard-bench"))
LUA = ROOT / "bench" / "pool.lua"
AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "b" * 32
CALLER = "+1415{:07d}"  # each call from its own caller, derived from its CallSid
# voice/peer and gather/peer: medians of the rounds' ratios, at least; p99 of the voice and
# Gather webhooks at --connections (16), under; flatness: how far those two ratios may
# move with the large data set (ratios rather than req/s, which move with the machine).
TARGETS = {"voice/peer": 1.0, "gather/peer": 1.0, "p99 ms": 50.0, "flatness": 0.10}
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sb_bench")

sys.path.insert(0, str(ROOT))
from twilio.request_validator import RequestValidator  # noqa: E402

_validator = RequestValidator(AUTH_TOKEN)


# --- the server ----------------------------------------------------------------------------


class Server:
    """gunicorn with the production settings, in its own process group."""

    running: list["Server"] = []

    def __init__(self, env: dict, log: Path):
        self.env, self.log, self.process = env, log, None

    def start(self) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        Server.running.append(self)
        base = self.env["TELEPHONY_PUBLIC_URL"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited at start; see {self.log}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    if response.read() == b"ok":
                        return self
            except OSError:  # refused, reset, or a worker still booting past the timeout
                time.sleep(0.2)
        self.stop()
        sys.exit(f"gunicorn did not answer /healthz within 30 s; see {self.log}")

    def workers(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        if self in Server.running:
            Server.running.remove(self)


def _stop_all(*_):
    for server in list(Server.running):
        server.stop()


atexit.register(_stop_all)
for _signal in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signal, lambda *_: sys.exit(130))


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --- databases and settings ----------------------------------------------------------------


def prepare_database(kind: str, pg_url: str) -> str | None:
    """A fresh, empty database; its URL. None when PostgreSQL is not reachable."""
    if kind == "sqlite":
        path = WORK / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg2

    parts = urlsplit(pg_url)
    name = parts.path.lstrip("/")
    if not name.startswith("sb_"):
        sys.exit(f"refusing to drop {name!r}: the benchmark only recreates databases named sb_*")
    try:
        admin = psycopg2.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            dbname="postgres",
            connect_timeout=3,
        )
    except psycopg2.OperationalError as error:
        print(f"PostgreSQL not reachable ({error}); skipping it.")
        return None
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return pg_url


def server_env(database_url: str, port: int, extra: dict) -> dict:
    base = f"http://127.0.0.1:{port}"
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(
        {
            # Production's settings; only ROOT_URLCONF adds the peer views (bench/peer.py).
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TELEPHONY_PUBLIC_URL": base,
            "TELEPHONY_BACKEND": "locmem",  # nothing may leave the machine
            # Plain HTTP on loopback: the HTTPS hardening would redirect every request.
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "SECURE_HSTS_SECONDS": "0",
            "WEB_CONCURRENCY": "2",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            # The demo's Hours step decides as in the tests (open): the same menu all day.
            "TELEPHONY_NOW": "2026-12-23T10:00:00-08:00",
        }
    )
    env.update(extra)
    return env


def django(env: dict, *args) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- signed requests and wrk ---------------------------------------------------------------


def signed_line(base: str, path: str, params: dict) -> str:
    signature = _validator.compute_signature(base + path, params)
    return f"POST\t{path}\t{signature}\t{urlencode(params)}\n"


def voice_params(sid: str, number: str) -> dict:
    caller = CALLER.format(int(sid[-7:], 16) % 10**7)
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "Called": number,
        "Caller": caller,
        "Direction": "inbound",
        "From": caller,
        "FromCity": "SAN FRANCISCO",
        "FromCountry": "US",
        "FromState": "CA",
        "To": number,
        "ToCountry": "US",
        "ToState": "CA",
    }


def gather_params(sid: str, number: str) -> dict:
    params = voice_params(sid, number) | {"CallStatus": "in-progress", "Digits": "1"}
    return params | {"FinishedOnKey": "", "msg": "Gather End"}


def sms_params(sid: str, number: str, i: int) -> dict:
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "SmsStatus": "received",
        "From": f"+1415555{i % 10000:04d}",
        "To": number,
        "Body": ("Hello", "hours please", "what are your opening times?")[i % 3],
        "NumMedia": "0",
        "NumSegments": "1",
    }


def call_status_params(sid: str, number: str, status: str) -> dict:
    params = voice_params(sid, number) | {"CallStatus": status}
    if status == "completed":
        params["CallDuration"] = "42"
    return params


def sid(prefix: str, run: str, i: int) -> str:
    return f"{prefix}{run}{i:024x}"  # 2 + 8 + 24 = 34 characters, like Twilio's


def write_pool(path: Path, lines) -> Path:
    with path.open("w") as pool:
        pool.writelines(lines)
    return path


def wrk(
    base: str,
    pool: Path,
    *,
    seconds: float,
    connections: int,
    once: bool = False,
    count_status: bool = False,
) -> subprocess.Popen:
    env = dict(os.environ, POOL=str(pool), POOL_THREADS="1")
    env.update(POOL_ONCE="1" if once else "0", COUNT_STATUS="1" if count_status else "0")
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(LUA)]
        + [base],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wrk_result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=3600)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if process.returncode or not lines:
        sys.exit(f"wrk failed:\n{out}\n{err}")
    result = json.loads(lines[-1])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Installing wrk (Debian package)...")
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, timeout=600)
        return
    sys.exit("wrk is needed: install it (Debian/Ubuntu: sudo apt-get install wrk) and rerun.")


# --- the benchmark -------------------------------------------------------------------------


PEER_PATH = "/twilio/bench/peer/"
TRIVIAL_PATH = "/twilio/bench/trivial/"
# In the order of the table. "baseline" is /healthz through the site's whole stack; the
# others go through the webhooks' light handler (paths under /twilio/).
KINDS = ("baseline", "trivial", "peer", "voice", "gather")
# name: (numerator, denominator), each the median of the rounds' own ratios.
RATIOS = {
    "voice/peer": ("voice", "peer"),
    "gather/peer": ("gather", "peer"),
    "voice/trivial": ("voice", "trivial"),
    "voice/baseline": ("voice", "baseline"),  # the bar up to 2026-11-30, for the history
    "gather/baseline": ("gather", "baseline"),
}
WEBHOOKS = ("voice", "gather")


def menu_under_test(info: dict, menu: str) -> tuple[str, str]:
    """The number called and its Gather's action path: the demo's (what the peer builds)
    or the 10-step bench menu's (the figures up to 2026-11-30)."""
    if menu == "demo":
        return info["demo_number"], info["demo_gather_path"]
    return info["number"], info["gather_path"]


def pools_for_a_round(base: str, info: dict, seconds: float, menu: str = "demo") -> dict[str, Path]:
    """Fresh CallSids for every round: each voice request is a new call, as in life."""
    run = secrets.token_hex(4)
    size = int(seconds * 6000) + 1000  # more than wrk can send in `seconds`
    number, gather = menu_under_test(info, menu)
    return {
        "baseline": write_pool(WORK / "pool-healthz.txt", ["GET\t/healthz\t\t\n"]),
        "trivial": write_pool(WORK / "pool-trivial.txt", [f"GET\t{TRIVIAL_PATH}\t\t\n"]),
        # The peer gets the voice webhook's very bodies: same fields, same signature work.
        "peer": write_pool(
            WORK / "pool-peer.txt",
            (
                signed_line(base, PEER_PATH, voice_params(sid("CA", run, i), number))
                for i in range(size)
            ),
        ),
        "voice": write_pool(
            WORK / "pool-voice.txt",
            (
                signed_line(base, "/twilio/voice/", voice_params(sid("CA", run, i), number))
                for i in range(size)
            ),
        ),
        "gather": write_pool(
            WORK / "pool-gather.txt",
            (
                signed_line(base, gather, gather_params(sid("CA", run, i), number))
                for i in range(size)
            ),
        ),
    }


def post_signed(base: str, path: str, params: dict) -> tuple[int, bytes]:
    data = urlencode(params).encode()
    headers = {"X-Twilio-Signature": _validator.compute_signature(base + path, params)}
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check_peer(base: str, info: dict, menu: str) -> None:
    """Before measuring: the peer must accept our signatures and, for the demo, answer
    with the voice webhook's verbs. A peer answering 403 quickly would make any webhook
    look slow; one building another document would compare other work."""
    number, _ = menu_under_test(info, menu)
    answers = {}
    for kind, path in (("peer", PEER_PATH), ("voice", "/twilio/voice/")):
        status, body = post_signed(base, path, voice_params(sid("CA", "00000000", 0), number))
        if status != 200:
            sys.exit(f"{path} answered {status} before the benchmark: {body[:200]!r}")
        answers[kind] = [element.tag for element in ElementTree.fromstring(body).iter()]
    if menu == "demo" and answers["peer"] != answers["voice"]:
        sys.exit(
            f"the peer's verbs {answers['peer']} are not the voice webhook's {answers['voice']}"
        )


def measure(base: str, info: dict, args, label: str) -> dict:
    # Warm up: workers loaded, caches filled, database connections open.
    for pool in pools_for_a_round(base, info, 1, args.menu).values():
        wrk_result(wrk(base, pool, seconds=1, connections=args.connections))
    samples = {kind: [] for kind in KINDS}
    ratios = {name: [] for name in RATIOS}
    for round_number in range(args.rounds):
        pools = pools_for_a_round(base, info, args.seconds, args.menu)
        shift = round_number % len(KINDS)
        order = list(KINDS[shift:] + KINDS[:shift])  # no kind always first
        this_round = {}
        for kind in order:
            this_round[kind] = wrk_result(
                wrk(base, pools[kind], seconds=args.seconds, connections=args.connections)
            )
            samples[kind].append(this_round[kind])
        # Each round's ratio compares runs seconds apart: a burst of other work on this
        # shared machine skews one round, not the median of them.
        for name, (top, bottom) in RATIOS.items():
            ratios[name].append(this_round[top]["rps"] / this_round[bottom]["rps"])
    result = {"label": label, "ratios": {}}
    for kind, runs in samples.items():
        result[kind] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["latency_us"]["p50"] for r in runs) / 1000,
            "p99_ms": statistics.median(r["latency_us"]["p99"] for r in runs) / 1000,
            "errors": sum(sum(r["errors"].values()) for r in runs),
        }
    for name, values in ratios.items():
        result["ratios"][name] = {"median": statistics.median(values), "rounds": values}
    return result


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def verdicts(results: list[dict]) -> list[tuple[str, str, bool]]:
    """(target, what was measured, met?) for every target in TARGETS."""
    found = []
    for result in results:
        where = result["label"]
        for name in ("voice/peer", "gather/peer"):
            ratio = result["ratios"][name]["median"]
            found.append(
                (f"{name} >= {TARGETS[name]:.1f} ({where})", f"{ratio:.2f}", ratio >= TARGETS[name])
            )
        p99 = {kind: result[kind]["p99_ms"] for kind in WEBHOOKS}
        found.append(
            (
                f"webhook p99 < {TARGETS['p99 ms']:.0f} ms ({where})",
                ", ".join(f"{kind} {ms:.1f} ms" for kind, ms in p99.items()),
                max(p99.values()) < TARGETS["p99 ms"],
            )
        )
        errors = {kind: result[kind]["errors"] for kind in KINDS if result[kind]["errors"]}
        found.append((f"no errors or non-2xx answers ({where})", str(errors or 0), not errors))
    if len(results) == 2:
        small, large = results
        for name in ("voice/peer", "gather/peer"):
            change = large["ratios"][name]["median"] / small["ratios"][name]["median"] - 1
            found.append(
                (
                    f"{name} flat within {TARGETS['flatness']:.0%} with the large data set",
                    f"{change:+.1%}",
                    abs(change) <= TARGETS["flatness"],
                )
            )
    return found


def print_table(db: str, results: list[dict], connections: int) -> bool:
    """The figures, then PASS/FAIL per target; True when every target is met."""
    print(f"\n== {db}: 2 gunicorn workers, {connections} connections, medians of the rounds")
    print(f"(load average now {load_average()}: other work on this machine skews the figures)")
    print(f"{'data':<44} {'endpoint':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for result in results:
        for kind in KINDS:
            row = result[kind]
            errors = f"  errors: {row['errors']}" if row["errors"] else ""
            print(
                f"{result['label']:<44} {kind:<9} {row['rps']:>8.0f} {row['p50_ms']:>8.2f} "
                f"{row['p99_ms']:>8.2f}{errors}"
            )
        print(
            "  ratios (median of the rounds' own; min-max): "
            + ", ".join(
                f"{name} {r['median']:.2f} ({min(r['rounds']):.2f}-{max(r['rounds']):.2f})"
                for name, r in result["ratios"].items()
            )
        )
    if len(results) == 2:
        small, large = results
        print(
            "  with the large data set, throughput "
            + ", ".join(
                f"{kind} {large[kind]['rps'] / small[kind]['rps'] - 1:+.1%}" for kind in KINDS
            )
        )
    ok = True
    for target, measured, met in verdicts(results):
        print(f"{'PASS' if met else 'FAIL'}  {target}: {measured}")
        ok &= met
    return ok


def bench(db: str, database_url: str, args) -> list[dict]:
    env = server_env(database_url, args.port, args.server_env)
    django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    info = json.loads(django(env, "bench/data.py", "seed"))
    base = env["TELEPHONY_PUBLIC_URL"]
    results = []
    for bulk in [False, True] if not args.no_bulk else [False]:
        if bulk:
            info = json.loads(django(env, "bench/data.py", "seed", "--bulk"))
        label = f"{info['numbers']} numbers, {info['flows']} flows, {info['steps']} steps"
        server = Server(env, WORK / f"{db}-gunicorn.log").start()
        try:
            check_peer(base, info, args.menu)
            results.append(measure(base, info, args, label))
        finally:
            server.stop()
    return results


# --- the soak ------------------------------------------------------------------------------


def route_exists(base: str, path: str) -> bool:
    request = urllib.request.Request(base + path, data=b"", method="POST")
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as error:
        return error.code != 404
    return True


def soak(db: str, database_url: str, args) -> dict:
    extra = {"GUNICORN_MAX_REQUESTS": "0", **args.server_env}  # no recycling: see real growth
    env = server_env(database_url, args.port, extra)
    django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    info = json.loads(django(env, "bench/data.py", "seed"))
    base, number, run = env["TELEPHONY_PUBLIC_URL"], info["number"], secrets.token_hex(4)
    server = Server(env, WORK / f"{db}-soak-gunicorn.log").start()
    try:
        kinds = ["voice", "gather"]
        if route_exists(base, "/twilio/sms/") and route_exists(base, "/twilio/status/"):
            kinds += ["sms", "status"]
        else:
            print("/twilio/sms/ or /twilio/status/ is missing: soaking voice and Gather only.")
        per_kind = max(1, args.soak_connections // len(kinds))
        size = int(args.soak_seconds * 3000) + 1000  # more than one kind can get through
        # Calls the status callbacks are about, placed before the soak starts (and warming
        # the workers up). Each gets "in-progress" then "completed"; once all have had theirs,
        # the callbacks start over, as Twilio's retries would: duplicates change nothing.
        # Sized so the pool wraps early in the run (at ~350 callbacks/s, about a third of the
        # way in): the retries' path then runs for most of the soak, its memory included.
        prelude_count = args.soak_seconds * 50 if "status" in kinds else 0
        prelude = [sid("CA", run, 10**9 + i) for i in range(prelude_count)]
        pools = {
            "voice": (
                signed_line(base, "/twilio/voice/", voice_params(sid("CA", run, i), number))
                for i in range(size)
            ),
            "gather": (
                signed_line(base, info["gather_path"], gather_params(sid("CA", run, i), number))
                for i in range(size)
            ),
            "sms": (
                signed_line(base, "/twilio/sms/", sms_params(sid("SM", run, i), number, i))
                for i in range(size)
            ),
            "status": (
                signed_line(
                    base,
                    "/twilio/status/",
                    call_status_params(
                        prelude[i // 2], number, ("in-progress", "completed")[i % 2]
                    ),
                )
                for i in range(2 * prelude_count)
            ),
        }
        paths = {kind: write_pool(WORK / f"soak-{kind}.txt", pools[kind]) for kind in kinds}
        if prelude:
            prelude_pool = write_pool(
                WORK / "soak-prelude.txt",
                (signed_line(base, "/twilio/voice/", voice_params(s, number)) for s in prelude),
            )
            print(f"Placing {len(prelude)} calls for the status callbacks to be about...")
            wrk_result(wrk(base, prelude_pool, seconds=120, connections=16, once=True))

        print(f"Soak: {args.soak_seconds} s, {per_kind * len(kinds)} connections, {kinds}")
        memory: list[tuple[float, dict]] = []
        stop = threading.Event()

        def sample():
            started = time.monotonic()
            while not stop.wait(args.sample_every):
                memory.append(
                    (time.monotonic() - started, {pid: rss_kb(pid) for pid in server.workers()})
                )

        workers_before = server.workers()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        processes = {
            kind: wrk(
                base,
                paths[kind],
                seconds=args.soak_seconds,
                connections=per_kind,
                once=kind != "status",  # a new SID for every call and message
                count_status=True,
            )
            for kind in kinds
        }
        results = {kind: wrk_result(process) for kind, process in processes.items()}
        stop.set()
        sampler.join()
        workers_after = server.workers()
    finally:
        server.stop()

    def sent(kind, prefix):
        return (
            [sid(prefix, run, i) for i in range(results[kind]["sent"])] if kind in results else []
        )

    status_sent = results.get("status", {}).get("sent", 0)
    sids = {
        "calls": sent("voice", "CA"),
        "messages": sent("sms", "SM"),
        "prelude": prelude[: (status_sent + 1) // 2],  # all of them, once the pool wrapped
    }
    sids_file = WORK / "soak-sent.json"
    sids_file.write_text(json.dumps(sids))
    logs = json.loads(django(env, "bench/data.py", "report", str(sids_file)))
    return {
        "db": db,
        "kinds": kinds,
        "wrk": results,
        "logs": logs,
        "memory": memory,
        "workers_before": workers_before,
        "workers_after": workers_after,
        "status_callbacks": status_sent,
    }


def sample_from(samples: list[tuple[float, dict]], seconds: float, otherwise: int):
    """The first RSS sample taken at or after `seconds`; samples[otherwise] if none was."""
    return next(((t, rss) for t, rss in samples if t >= seconds), samples[otherwise])


def print_soak(report: dict, args) -> bool:
    ok = True
    print(
        f"\n== soak on {report['db']}: {args.soak_seconds} s, {args.soak_connections} connections"
    )
    print(
        f"{'webhook':<8} {'sent':>7} {'done':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'2xx':>7} {'4xx':>5} {'5xx':>5} {'socket errors':>14}"
    )
    for kind, r in report["wrk"].items():
        socket_errors = sum(r["errors"][k] for k in ("connect", "read", "write", "timeout"))
        s = r["statuses"]
        print(
            f"{kind:<8} {r['sent']:>7} {r['requests']:>7} {r['rps']:>7.0f} "
            f"{r['latency_us']['p50'] / 1000:>7.2f} {r['latency_us']['p99'] / 1000:>7.2f} "
            f"{s['2xx']:>7} {s['4xx']:>5} {s['5xx']:>5} {socket_errors:>14}"
            + ("  (pool used up)" if r["exhausted"] else "")
        )
        ok &= s["5xx"] == 0 and socket_errors == 0 and s["4xx"] == 0
    for kind, log in report["logs"].items():
        if not log["sent"]:
            continue
        # A request still in flight when wrk stopped may or may not have reached Django.
        in_flight = log["sent"] - log["logged"]
        print(
            f"{kind}: {log['sent']} SIDs sent, {log['logged']} logged, "
            f"{log['duplicate_sids_in_table']} duplicated, statuses {log['statuses']}"
            + (f" ({in_flight} in flight when the load stopped)" if in_flight else "")
        )
        ok &= log["duplicate_sids_in_table"] == 0 and 0 <= in_flight <= args.soak_connections
    samples = report["memory"]
    if samples:
        print(
            "RSS per worker (MiB) over time: "
            + ", ".join(
                f"{t:.0f}s " + "/".join(f"{kb / 1024:.1f}" for kb in rss.values() if kb)
                for t, rss in samples[:: max(1, len(samples) // 8)] + samples[-1:]
            )
        )
        # Growth is counted from the first sample after 10 s: imports, caches and database
        # connections are in place by then; what grows after that is what would leak.
        since, first = sample_from(samples, 10, otherwise=0)
        last = samples[-1][1]
        print(f"RSS growth per worker from {since:.0f} s to the end:")
        for pid in first:
            if first[pid] and last.get(pid):
                growth = (last[pid] - first[pid]) / 1024
                print(
                    f"worker {pid}: {first[pid] / 1024:.1f} -> {last[pid] / 1024:.1f} MiB ({growth:+.1f})"
                )
        # The second half alone: a one-time step (a code path's first use) shows above, a
        # leak shows in both.
        middle_at, middle = sample_from(samples, samples[-1][0] / 2, otherwise=-1)
        print(
            f"RSS growth per worker from {middle_at:.0f} s to the end: "
            + ", ".join(
                f"{(last[pid] - middle[pid]) / 1024:+.1f} MiB"
                for pid in middle
                if middle[pid] and last.get(pid)
            )
        )
    if report["workers_before"] != report["workers_after"]:
        print(
            f"workers changed during the soak: {report['workers_before']} -> {report['workers_after']}"
        )
        ok = False
    print("soak: PASS" if ok else "soak: FAIL")
    return ok


# --- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite,postgres (default both)")
    parser.add_argument(
        "--pg-url",
        default=PG_URL,
        help="PostgreSQL database to recreate (its name must start with sb_)",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seconds", type=int, default=3, help="per measurement")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-bulk", action="store_true", help="skip the large data set")
    parser.add_argument(
        "--menu",
        choices=("demo", "bench"),
        default="demo",
        help="number called: the demo's main menu (what the peer builds) or the 10-step one",
    )
    parser.add_argument("--soak", action="store_true", help="run the soak instead")
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument("--soak-connections", type=int, default=64)
    parser.add_argument("--sample-every", type=float, default=5, help="RSS sampling, seconds")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server environment, e.g. --env CACHE_URL=redis://127.0.0.1:6379/9",
    )
    args = parser.parse_args()
    args.server_env = dict(item.split("=", 1) for item in args.env)
    ensure_wrk()
    WORK.mkdir(parents=True, exist_ok=True)
    ok = True
    for db in args.db.split(","):
        database_url = prepare_database(db, args.pg_url)
        if database_url is None:
            continue
        if args.soak:
            ok &= print_soak(soak(db, database_url, args), args)
        else:
            ok &= print_table(db, bench(db, database_url, args), args.connections)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
