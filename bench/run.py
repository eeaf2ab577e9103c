"""Benchmark and soak of Twilio's webhooks under gunicorn, set up as in production.

    make bench                 # both databases: throughput, p50/p99, webhook/baseline ratio
    make soak                  # 60 s at 64 connections mixing voice, Gather, SMS, status
    .venv/bin/python bench/run.py --help

For each database (SQLite file, PostgreSQL database `sb_bench` on 127.0.0.1) it migrates
and seeds a fresh database, starts gunicorn with config/gunicorn.conf.py and the
production settings (2 workers, DEBUG off, JSON webhook logs), and drives it over
loopback with wrk (bench/pool.lua): signed POST /twilio/voice/ for a number whose flow
has 10 steps, a signed Gather round trip (Digits=1, which renders the target flow), and
GET /healthz - Django answering a fixed string - as the baseline. (The baseline runs
through every middleware of the site; the webhooks through their own short stack,
telephony/wsgi.py, as in production.) Every signed request carries its own CallSid, like
real calls. The three are measured in interleaved rounds, each round in another order;
the ratio printed is the median of the rounds' own ratios, so a burst of other work on a
shared machine skews one round, not the result. Then it seeds 10,000 numbers and 1,000
flows of 50 steps and measures again.

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

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORK = Path(os.environ.get("BENCH_WORKDIR", "/tmp/switchboard-bench"))
LUA = ROOT / "bench" / "pool.lua"
AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "b" * 32
CALLER = "+1415{:07d}"  # each call from its own caller, derived from its CallSid
TARGETS = {"webhook p99 ms": 50.0, "webhook/baseline": 0.8}
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
            except (urllib.error.URLError, ConnectionError):
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
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
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


def pools_for_a_round(base: str, info: dict, seconds: float) -> dict[str, Path]:
    """Fresh CallSids for every round: each voice request is a new call, as in life."""
    run = secrets.token_hex(4)
    size = int(seconds * 6000) + 1000  # more than wrk can send in `seconds`
    number, gather = info["number"], info["gather_path"]
    return {
        "baseline": write_pool(WORK / "pool-healthz.txt", ["GET\t/healthz\t\t\n"]),
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


def measure(base: str, info: dict, args, label: str) -> dict:
    # Warm up: workers loaded, caches filled, database connections open.
    for pool in pools_for_a_round(base, info, 1).values():
        wrk_result(wrk(base, pool, seconds=1, connections=args.connections))
    samples = {"baseline": [], "voice": [], "gather": []}
    ratios = {"voice": [], "gather": []}
    for round_number in range(args.rounds):
        pools = pools_for_a_round(base, info, args.seconds)
        order = list(pools)
        order = order[round_number % 3 :] + order[: round_number % 3]  # no kind always first
        this_round = {}
        for kind in order:
            this_round[kind] = wrk_result(
                wrk(base, pools[kind], seconds=args.seconds, connections=args.connections)
            )
            samples[kind].append(this_round[kind])
        # Each round's ratio compares runs seconds apart: a burst of other work on this
        # shared machine skews one round, not the median of them.
        for kind in ratios:
            ratios[kind].append(this_round[kind]["rps"] / this_round["baseline"]["rps"])
    result = {}
    for kind, runs in samples.items():
        result[kind] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["latency_us"]["p50"] for r in runs) / 1000,
            "p99_ms": statistics.median(r["latency_us"]["p99"] for r in runs) / 1000,
            "errors": sum(sum(r["errors"].values()) for r in runs),
        }
    for kind in ratios:
        result[kind]["ratio"] = statistics.median(ratios[kind])
        result[kind]["ratios"] = ratios[kind]
    result["label"] = label
    return result


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def print_table(db: str, results: list[dict], connections: int) -> None:
    print(f"\n== {db}: 2 gunicorn workers, {connections} connections, medians of the rounds")
    print(f"(load average now {load_average()}: other work on this machine skews the figures)")
    print(
        f"{'data':<44} {'endpoint':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
        "  (rounds' ratios: min-max)"
    )
    for result in results:
        for kind in ("baseline", "voice", "gather"):
            row = result[kind]
            ratio = f"{row['ratio']:.2f}" if "ratio" in row else "1.00"
            ratio = f"{ratio:>6}"
            if "ratios" in row:
                ratio += f"  ({min(row['ratios']):.2f}-{max(row['ratios']):.2f})"
            errors = f"  errors: {row['errors']}" if row["errors"] else ""
            print(
                f"{result['label']:<44} {kind:<10} {row['rps']:>8.0f} {row['p50_ms']:>8.2f} "
                f"{row['p99_ms']:>8.2f} {ratio}{errors}"
            )
    if len(results) == 2:
        small, large = results
        for kind in ("voice", "gather"):
            change = large[kind]["rps"] / small[kind]["rps"] - 1
            ratio_change = large[kind]["ratio"] / small[kind]["ratio"] - 1
            print(
                f"{kind}: with the large data set, throughput {change:+.1%}, ratio to the "
                f"baseline {ratio_change:+.1%} (target within 10%)"
            )


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
            results = bench(db, database_url, args)
            print_table(db, results, args.connections)
            for result in results:
                for kind in ("voice", "gather"):
                    ok &= result[kind]["errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
