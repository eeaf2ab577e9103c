"""CPU per voice and Gather webhook in one process, the background writer's thread included.

`make bench` measures throughput under gunicorn, which a shared machine's other work
moves by tens of percent from one run to the next. This counts what one process spends
(time.process_time: every thread, the call log writer's too) on N signed webhooks through
the project's Django test client with deferred call log writes, so two versions of the
code can be compared side by side in one run, alternating, on the same machine:

    .venv/bin/python bench/webhook_cpu.py --trees /path/to/before,. --db sqlite,postgres

Each tree is run in a subprocess of its own (its code, this virtualenv), on a fresh
database: SQLite in a file, PostgreSQL `sb_webhook_cpu` (dropped and created). The test
client's own cost is in both sides; read the difference, not the figures.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import os, sys, time
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
import django
django.setup()
import logging
from django.conf import settings
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("loaddata", "demo", verbosity=0)
from tests.factories import publish, step_path
publish("webhook_cpu")
settings.TELEPHONY_CALL_LOG_WRITES = "deferred"
logging.disable(logging.CRITICAL)
from django.test import Client
from tests.conftest import SignedClient
from telephony.logs import calls
twilio = SignedClient(Client())
gather = step_path("main-menu", "gather", "gather")
def post(path, i, **extra):
    params = {"CallSid": f"CA{i:032d}", "From": "+14155551234", "To": "+15005550006", **extra}
    assert twilio.post(path, params).status_code == 200
for i in range(200):  # warm: the release, the flows, the writer's thread
    post("/twilio/voice/", i)
    post(gather, i, Digits="1")
calls.flush()
n = int(sys.argv[1])
out = []
for name, path, extra in (("voice", "/twilio/voice/", {}), ("gather", gather, {"Digits": "1"})):
    started = time.process_time()
    for i in range(10_000, 10_000 + n):
        post(path, i, **extra)
    calls.flush()
    out.append(f"{name} {(time.process_time() - started) / n * 1e6:.0f}")
calls.writer().close()
print(" ".join(out))
"""


def database_url(db: str, workdir: Path) -> str:
    if db == "sqlite":
        path = workdir / "webhook_cpu.sqlite3"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg2  # the project's PostgreSQL driver

    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS sb_webhook_cpu WITH (FORCE)")
        cursor.execute("CREATE DATABASE sb_webhook_cpu")
    admin.close()
    return "postgres://postgres@127.0.0.1:5432/sb_webhook_cpu"


def run(tree: Path, db: str, calls: int, workdir: Path) -> str:
    env = dict(os.environ, DATABASE_URL=database_url(db, workdir), PYTHONPATH=str(tree))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(calls)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        return f"failed: {done.stderr.strip().splitlines()[-1:]}"
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default=".", help="checkouts to compare, comma-separated")
    parser.add_argument("--db", default="sqlite", help="sqlite,postgres")
    parser.add_argument("--calls", type=int, default=3000, help="webhooks of each kind")
    parser.add_argument("--rounds", type=int, default=2, help="each tree this many times")
    args = parser.parse_args()
    trees = [Path(tree).resolve() for tree in args.trees.split(",")]
    with tempfile.TemporaryDirectory() as workdir:
        for db in args.db.split(","):
            for round_ in range(1, args.rounds + 1):
                for tree in trees:  # alternating, so a burst of other work hits both
                    result = run(tree, db, args.calls, Path(workdir))
                    print(f"{db:<9} round {round_}  {tree}: {result} (µs of CPU per webhook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
