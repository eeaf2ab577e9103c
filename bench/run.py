"""Benchmark and soak of Twilio's webhooks under gunicorn, set up as in production.

    make bench                 # both databases: req/s, p50/p99, ratios, PASS/FAIL per target
    make soak                  # 60 s at 32 connections of whole calls, a publish every 2 s
    BENCH_ARGS="--soak mixed" make soak   # 60 s at 64 connections: voice, Gather, SMS, status
    .venv/bin/python bench/run.py --help

For each database (SQLite file, PostgreSQL database `sb_bench` on 127.0.0.1, or
BENCH_DATABASE_URL) it migrates, seeds and publishes a fresh database (bench/data.py:
release 1 holds the demo and the bench menu; the large data set is release 2), starts gunicorn
with config/gunicorn.conf.py and the production settings plus the peer views' URLconf
(bench/settings.py: 2 workers, DEBUG off, JSON webhook logs), and drives it over loopback
with wrk (bench/pool.lua). Five kinds of request, each signed one with its own CallSid:

    voice     POST /twilio/voice/ for the demo number (its main menu; --menu bench: the
              10-step menu the figures up to 2026-11-30 used)
    gather    the Gather round trip: Digits=1 to the menu's Gather action, a release URL
              (/twilio/releases/N/flows/main-menu/steps/2/gather/), rendering the option's flow
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

The soaks (--soak): "releases", the default, follows whole calls with bench/calls.py (a
Python client: wrk cannot post the URLs an answer names) while bench/publisher.py edits
the demo's texts and publishes every 2 s, and checks every call stays on one release from
start to end; "mixed" is wrk's 64 connections of voice, Gather, SMS and status callbacks
(with the same publisher unless --publish-every 0).

Everything it starts stops by itself: wrk, the callers and the publisher run for fixed
durations, and the servers and the publisher are killed at exit (also on Ctrl-C). Only
127.0.0.1 is ever targeted.
"""

import argparse
import atexit
import json
import os
import re
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
# The first call of a freshly started worker (which reads the live release) must end
# within production's GUNICORN_TIMEOUT, which kills the worker otherwise.
TARGETS = {
    "voice/peer": 1.0,
    "gather/peer": 1.0,
    "p99 ms": 50.0,
    "flatness": 0.10,
    "first call s": 14.0,
    "publish s": 1.5,  # the soak: new calls get a new release within this after a publish
}
PRODUCTION_TIMEOUT = 14  # config/gunicorn.conf.py's default
LARGE_TIMEOUT = 300  # for the large data set only: see bench()
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sb_bench")

sys.path.insert(0, str(ROOT))
from twilio.request_validator import RequestValidator  # noqa: E402

from bench import calls  # noqa: E402

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
    for publisher in list(Publisher.running):
        publisher.stop()
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


def post_signed(base: str, path: str, params: dict, timeout: float = 10) -> tuple[int, bytes]:
    data = urlencode(params).encode()
    headers = {"X-Twilio-Signature": _validator.compute_signature(base + path, params)}
    request = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def shape(element, base: str) -> tuple:
    """A TwiML element as what matters to Twilio, with the release number in our URLs left
    out: the peer names release 1 (it reads no database), the webhook the live release."""

    def plain(value: str) -> str:
        return re.sub(r"^" + re.escape(base) + r"/twilio/releases/[0-9]+/", "<release>/", value)

    attributes = {key: plain(value) for key, value in sorted(element.attrib.items())}
    return (
        element.tag,
        attributes,
        plain((element.text or "").strip()),
        [shape(child, base) for child in element],
    )


def check_peer(base: str, info: dict, menu: str) -> None:
    """Before measuring: the peer must accept our signatures and, for the demo, answer
    the voice webhook's document (verbs, attributes, texts; URLs but for the release
    number). A peer answering 403 quickly would make any webhook look slow; one building
    another document would compare other work."""
    number, _ = menu_under_test(info, menu)
    answers = {}
    for kind, path in (("peer", PEER_PATH), ("voice", "/twilio/voice/")):
        status, body = post_signed(base, path, voice_params(sid("CA", "00000000", 0), number))
        if status != 200:
            sys.exit(f"{path} answered {status} before the benchmark: {body[:200]!r}")
        answers[kind] = shape(ElementTree.fromstring(body), base)
    if menu == "demo" and answers["peer"] != answers["voice"]:
        sys.exit(
            f"the peer's answer {answers['peer']} is not the voice webhook's {answers['voice']}"
        )


def first_calls(base: str, info: dict, menu: str) -> float:
    """Right after gunicorn starts: how long the first call takes (a worker reading the
    live release: flows/fixtures.py `read_snapshot`), then calls in parallel until every
    worker answers at once. The seconds of that first call."""
    number, _ = menu_under_test(info, menu)
    started = time.monotonic()
    status, body = post_signed(
        base, "/twilio/voice/", voice_params(sid("CA", "00000001", 0), number), timeout=300
    )
    cold = time.monotonic() - started
    if status != 200:
        sys.exit(f"the first call after start answered {status} in {cold:.1f} s: {body[:200]!r}")

    def call(i: int, times: list) -> None:
        t = time.monotonic()
        params = voice_params(sid("CA", "00000002", i), number)
        post_signed(base, "/twilio/voice/", params, timeout=300)
        times.append(time.monotonic() - t)

    for attempt in range(20):
        times = []
        threads = [threading.Thread(target=call, args=(attempt * 8 + i, times)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if max(times) < 0.5:
            break
    return cold


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
        limit = TARGETS["first call s"]
        found.append(
            (
                f"a new worker's first call (reads release {result['release']}) under "
                f"gunicorn's timeout of {limit:.0f} s ({where})",
                f"{result['cold_s']:.2f} s",
                result["cold_s"] < limit,
            )
        )
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
            f"  a new worker's first call: {result['cold_s']:.2f} s (reads release "
            f"{result['release']}; gunicorn timeout {result['timeout']} s in this run)"
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
        server_env_now = env
        if bulk:
            info = json.loads(django(env, "bench/data.py", "seed", "--bulk"))
            if "GUNICORN_TIMEOUT" not in args.server_env:
                # A worker reads the large release for longer than production's 14 s on
                # this machine (see README, "The first call"): it would be killed mid-read,
                # again and again. Longer here, so the warm figures can be measured; the
                # first call's time is printed and held to the 14 s all the same.
                server_env_now = env | {"GUNICORN_TIMEOUT": str(LARGE_TIMEOUT)}
        label = f"{info['numbers']} numbers, {info['flows']} flows, {info['steps']} steps"
        server = Server(server_env_now, WORK / f"{db}-gunicorn.log").start()
        try:
            cold = first_calls(base, info, args.menu)
            check_peer(base, info, args.menu)
            result = measure(base, info, args, label)
            result["cold_s"] = cold
            result["release"] = info["release"]
            result["timeout"] = int(server_env_now.get("GUNICORN_TIMEOUT", PRODUCTION_TIMEOUT))
            results.append(result)
        finally:
            server.stop()
    return results


# --- the soak ------------------------------------------------------------------------------


class Sampler:
    """Each worker's RSS every `every` seconds, in a thread, until stopped."""

    def __init__(self, server: Server, every: float):
        self.server, self.every = server, every
        self.samples: list[tuple[float, dict]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.workers_before = server.workers()

    def _run(self) -> None:
        started = time.monotonic()
        while not self.stopping.wait(self.every):
            self.samples.append(
                (time.monotonic() - started, {pid: rss_kb(pid) for pid in self.server.workers()})
            )

    def start(self) -> "Sampler":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.workers_after = self.server.workers()


class Publisher:
    """bench/publisher.py beside the server, with its settings and database: edits the
    demo's texts and publishes every `every` seconds for `seconds`; its JSON lines are
    collected as they come. Killed at exit like the servers."""

    running: list["Publisher"] = []

    def __init__(self, env: dict, every: float, seconds: float, log: Path):
        self.lines: list[dict] = []
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "bench/publisher.py",
                "--every",
                str(every),
                "--seconds",
                str(seconds),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        Publisher.running.append(self)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def wait(self, timeout: float) -> None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        self.reader.join(5)
        if self in Publisher.running:
            Publisher.running.remove(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    @property
    def published(self) -> list[dict]:
        return [line for line in self.lines if "release" in line]

    @property
    def failed(self) -> list[dict]:
        return [line for line in self.lines if "error" in line]


def log_errors(log: Path, offset: int) -> list[str]:
    """The server log's error lines written since `offset`: JSON lines at ERROR or above,
    gunicorn's own [ERROR]/[CRITICAL] lines and tracebacks."""
    with log.open("rb") as file:
        file.seek(offset)
        text = file.read().decode(errors="replace")
    return [
        line
        for line in text.splitlines()
        if '"level":"ERROR"' in line
        or '"level":"CRITICAL"' in line
        or "[ERROR]" in line
        or "[CRITICAL]" in line
        or line.startswith("Traceback")
    ]


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def route_exists(base: str, path: str) -> bool:
    request = urllib.request.Request(base + path, data=b"", method="POST")
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as error:
        return error.code != 404
    return True


def mixed_soak(db: str, database_url: str, args) -> dict:
    extra = {"GUNICORN_MAX_REQUESTS": "0", **args.server_env}  # no recycling: see real growth
    env = server_env(database_url, args.port, extra)
    django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    info = json.loads(django(env, "bench/data.py", "seed"))
    base, number, run = env["TELEPHONY_PUBLIC_URL"], info["number"], secrets.token_hex(4)
    log = WORK / f"{db}-soak-gunicorn.log"
    offset = log_size(log)
    server = Server(env, log).start()
    publisher = None
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
        sampler = Sampler(server, args.sample_every).start()
        if args.publish_every:
            publisher = Publisher(
                env, args.publish_every, args.soak_seconds, WORK / f"{db}-publisher.log"
            )
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
        sampler.stop()
        if publisher:
            publisher.wait(timeout=60)
    finally:
        if publisher:
            publisher.stop()
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
        "memory": sampler.samples,
        "workers_before": sampler.workers_before,
        "workers_after": sampler.workers_after,
        "status_callbacks": status_sent,
        "published": publisher.published if publisher else [],
        "failed_publishes": publisher.failed if publisher else [],
        "log_errors": log_errors(log, offset),
    }


def release_soak(db: str, database_url: str, args) -> dict:
    """Whole calls on the demo number (bench/calls.py), followed from start to end and
    checked, while bench/publisher.py publishes a release every `--publish-every` s."""
    extra = {"GUNICORN_MAX_REQUESTS": "0", **args.server_env}  # no recycling: see real growth
    env = server_env(database_url, args.port, extra)
    django(env, "manage.py", "migrate", "--noinput", "-v", "0")
    info = json.loads(django(env, "bench/data.py", "seed"))
    if info["release"] != 1:
        sys.exit(f"the soak needs a fresh database (its live release is {info['release']})")
    base, run = env["TELEPHONY_PUBLIC_URL"], secrets.token_hex(4)
    log = WORK / f"{db}-release-soak-gunicorn.log"
    offset = log_size(log)
    server = Server(env, log).start()
    publisher = None
    try:
        first_calls(base, info, "demo")  # every worker holds release 1 before the clock runs
        print(
            f"Release soak: {args.soak_seconds} s, {args.soak_connections} connections, whole "
            f"calls to {info['demo_number']}, a publish every {args.publish_every or '-'} s"
        )
        sampler = Sampler(server, args.sample_every).start()
        if args.publish_every:
            publisher = Publisher(
                env, args.publish_every, args.soak_seconds, WORK / f"{db}-publisher.log"
            )
        caller = calls.Caller(
            base,
            AUTH_TOKEN,
            ACCOUNT_SID,
            info["demo_number"],
            connections=args.soak_connections,
            seconds=args.soak_seconds,
            think=args.think,
            run=run,
        )
        started = time.monotonic()
        results = caller.run()
        took = time.monotonic() - started
        sampler.stop()
        if publisher:
            publisher.wait(timeout=60)
    finally:
        if publisher:
            publisher.stop()
        server.stop()  # the call log's queued rows are written at shutdown
    published = publisher.published if publisher else []
    summary = calls.summary(results, published)
    sids_file = WORK / "release-soak-sent.json"
    sids_file.write_text(
        json.dumps({"calls": results.voice_sids, "recordings": results.recordings})
    )
    stored = json.loads(django(env, "bench/data.py", "report", str(sids_file)))
    texts = json.loads(django(env, "bench/data.py", "release-texts"))
    # The client checks answers against calls.release_texts(N): the database must agree.
    wrong_texts = [
        number
        for number, stored_texts in texts.items()
        if any(
            stored_texts.get(f"{slug}/{position}") != text
            for (slug, position), text in calls.release_texts(int(number)).items()
        )
    ]
    return {
        "db": db,
        "seconds": took,
        "summary": summary,
        "stored": stored,
        "releases_in_database": len(texts),
        "wrong_texts": wrong_texts,
        "memory": sampler.samples,
        "workers_before": sampler.workers_before,
        "workers_after": sampler.workers_after,
        "published": published,
        "failed_publishes": publisher.failed if publisher else [],
        "log_errors": log_errors(log, offset),
    }


def print_release_soak(report: dict, args) -> bool:
    s = report["summary"]
    print(
        f"\n== release soak on {report['db']}: {args.soak_seconds} s, "
        f"{args.soak_connections} connections, a publish every {args.publish_every or '-'} s"
    )
    print(f"(load average now {load_average()})")
    print(
        f"requests: {s['requests']} in {report['seconds']:.1f} s "
        f"({s['requests'] / report['seconds']:.0f} req/s), p50 {s['p50_ms']:.1f} ms, "
        f"p99 {s['p99_ms']:.1f} ms; errors: {s['errors'] or 0}"
    )
    print(
        f"calls: {s['calls']} followed to the end (requests per call: {s['hops']}); "
        f"{s['calls_checked']} passed every check, {s['mixed']} mixed releases, "
        f"{s['wrong']} failed otherwise"
    )
    for example in s["examples"]:
        print(f"  {example}")
    print(
        f"releases: {s['releases_seen']} met by calls ({s['calls_per_release']}); "
        f"{s['spanned_a_publish']} calls spanned "
        f"a publish (another release was published between their first and last answer)"
    )
    print(
        f"after a publish: {s['stale_calls']} new calls still got an older release, answered at "
        f"most {s['stale_max_s']:.2f} s after the publish committed (sent at most "
        f"{s['stale_max_sent_s']:.2f} s after)"
    )
    ok = print_publishes(report, args)
    print(
        f"releases in the database: {report['releases_in_database']}, texts as the publisher "
        f"wrote them: {'all' if not report['wrong_texts'] else 'not ' + str(report['wrong_texts'])}"
    )
    logged = report["stored"]["calls"]
    recordings = report["stored"].get("recordings", {"sent": 0, "stored": 0})
    print(
        f"call log: {logged['sent']} calls, {logged['logged']} logged, "
        f"{logged['duplicate_sids_in_table']} duplicated; voicemails: {recordings['sent']} "
        f"recorded, {recordings['stored']} stored"
    )
    ok &= print_memory(report)
    ok &= print_log_errors(report)
    checks = [
        ("no errors or non-200 answers", str(s["errors"] or 0), not s["errors"]),
        ("calls that mixed releases", str(s["mixed"]), s["mixed"] == 0),
        ("calls that failed another check", str(s["wrong"]), s["wrong"] == 0),
        ("calls followed", str(s["calls"]), s["calls"] > 0),
        (
            f"new calls on the new release within {TARGETS['publish s']} s of a publish",
            f"{s['stale_max_s']:.2f} s",
            s["stale_max_s"] <= TARGETS["publish s"],
        ),
        (
            "every release's texts as published",
            str(report["wrong_texts"] or "yes"),
            not report["wrong_texts"],
        ),
        (
            "every call logged once",
            f"{logged['logged']} of {logged['sent']}",
            logged["logged"] == logged["sent"] and not logged["duplicate_sids_in_table"],
        ),
        (
            "every voicemail stored",
            f"{recordings['stored']} of {recordings['sent']}",
            recordings["stored"] == recordings["sent"],
        ),
    ]
    for target, measured, met in checks:
        print(f"{'PASS' if met else 'FAIL'}  {target} ({report['db']}): {measured}")
        ok &= met
    print("release soak: PASS" if ok else "release soak: FAIL")
    return ok


def sample_from(samples: list[tuple[float, dict]], seconds: float, otherwise: int):
    """The first RSS sample taken at or after `seconds`; samples[otherwise] if none was."""
    return next(((t, rss) for t, rss in samples if t >= seconds), samples[otherwise])


def print_mixed_soak(report: dict, args) -> bool:
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
    ok &= print_publishes(report, args)
    ok &= print_memory(report)
    ok &= print_log_errors(report)
    print("soak: PASS" if ok else "soak: FAIL")
    return ok


def print_memory(report: dict) -> bool:
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
        return False
    return True


def print_publishes(report: dict, args) -> bool:
    published, failed = report["published"], report["failed_publishes"]
    if not args.publish_every:
        return True
    took = [line["after"] - line["before"] for line in published]
    print(
        f"publishes: {len(published)} releases published "
        f"(releases {published[0]['release'] if published else '-'}-"
        f"{published[-1]['release'] if published else '-'}), {len(failed)} failed"
        + (
            f"; editing and publishing took {1000 * statistics.median(took):.0f} ms "
            f"(median), {1000 * max(took):.0f} ms at most"
            if took
            else ""
        )
    )
    for line in failed[:5]:
        print(f"  failed publish: {line['error']}")
    expected = max(0, int((args.soak_seconds - 1e-9) // args.publish_every))
    return not failed and len(published) == expected


def print_log_errors(report: dict) -> bool:
    errors = report["log_errors"]
    print(f"server log: {len(errors)} error lines" + (":" if errors else ""))
    for line in errors[:5]:
        print(f"  {line[:300]}")
    return not errors


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
    parser.add_argument(
        "--soak",
        nargs="?",
        const="releases",
        choices=("releases", "mixed", "both"),
        help="run a soak instead: releases (the default: whole calls followed and checked "
        "while releases are published), mixed (wrk: voice, Gather, SMS, status), or both",
    )
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument(
        "--soak-connections",
        type=int,
        help="default 32 for the release soak, 64 for the mixed one",
    )
    parser.add_argument(
        "--publish-every",
        type=float,
        default=2.0,
        help="soaks: seconds between two publishes (bench/publisher.py); 0: none",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="release soak: a caller waits 0 to THINK seconds between two requests of a call",
    )
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
        if args.soak in ("releases", "both"):
            soak_args = argparse.Namespace(**vars(args))
            soak_args.soak_connections = args.soak_connections or 32
            ok &= print_release_soak(release_soak(db, database_url, soak_args), soak_args)
        if args.soak == "both":
            database_url = prepare_database(db, args.pg_url)
        if args.soak in ("mixed", "both"):
            soak_args = argparse.Namespace(**vars(args))
            soak_args.soak_connections = args.soak_connections or 64
            ok &= print_mixed_soak(mixed_soak(db, database_url, soak_args), soak_args)
        if not args.soak:
            ok &= print_table(db, bench(db, database_url, args), args.connections)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
