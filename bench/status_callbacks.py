"""What a status callback's database work costs, in-process, on SQLite and PostgreSQL.

    .venv/bin/python bench/status_callbacks.py                   # this checkout
    .venv/bin/python bench/status_callbacks.py --against 6b1dede  # side by side with a commit

Times `telephony.inbound.record_status` (what `POST /twilio/status/` does beyond parsing
the form) with the production settings, on a fresh database (the SQLite file and the
PostgreSQL database `sb_bench` that bench/run.py uses) holding N calls:

- forward: each call moves from "in-progress" to "completed" (one UPDATE);
- duplicate: the same "completed" again, as Twilio's retries and overtaking callbacks do.

With --against REV, the `record_status` of telephony/inbound.py at that git revision runs
in the same process, in alternating rounds, and the ratio new/old is printed: medians of
the rounds, so a burst of other work on the machine skews a round, not the result.
"""

import argparse
import statistics
import subprocess
import sys
import time
import types

from run import PG_URL, ROOT, WORK, prepare_database, server_env


def worker(args) -> None:
    import django

    django.setup()  # importing run put the checkout on sys.path
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from telephony import inbound
    from telephony.models import CallLog, Direction

    versions = {"this checkout": inbound.record_status}
    if args.against:
        source = subprocess.run(
            ["git", "show", f"{args.against}:telephony/inbound.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        old = types.ModuleType("telephony.inbound_at_revision")
        old.__package__ = "telephony"  # its relative imports resolve to this checkout's
        exec(compile(source, f"{args.against}:telephony/inbound.py", "exec"), old.__dict__)
        versions[args.against] = old.record_status

    sids = [f"CA{i:032x}" for i in range(args.calls)]
    CallLog.objects.bulk_create(
        CallLog(sid=sid, status="completed", direction=Direction.INBOUND, to_number="+1")
        for sid in sids
    )
    defaults = {"from_number": "+2", "to_number": "+1", "direction": Direction.INBOUND}

    def timed(record_status, status) -> float:
        started = time.perf_counter()
        for sid in sids:
            record_status(CallLog, sid=sid, status=status, defaults=defaults, changes={})
        return (time.perf_counter() - started) / len(sids) * 1e6

    results = {(case, name): [] for case in ("forward", "duplicate") for name in versions}
    names = list(versions)
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            CallLog.objects.update(status="in-progress")  # untimed: the next forward move
            results["forward", name].append(timed(versions[name], "completed"))
            results["duplicate", name].append(timed(versions[name], "completed"))
    assert set(CallLog.objects.values_list("status", flat=True)) == {"completed"}

    from django.db import connection

    print(f"== {connection.vendor}: {args.calls} calls, medians of {args.rounds} rounds")
    for case in ("forward", "duplicate"):
        medians = {name: statistics.median(results[case, name]) for name in names}
        line = ", ".join(f"{name} {us:.0f} µs" for name, us in medians.items())
        if args.against:
            line += f"; this checkout / {args.against}: {medians[names[0]] / medians[names[1]]:.2f}"
        print(f"{case:<10} a callback: {line}")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--against", help="a git revision to compare with, side by side")
    parser.add_argument("--calls", type=positive, default=2000)
    parser.add_argument("--rounds", type=positive, default=6)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.against:
        found = subprocess.run(
            ["git", "cat-file", "-e", f"{args.against}:telephony/inbound.py"],
            cwd=ROOT,
            capture_output=True,
        )
        if found.returncode:
            parser.error(f"--against {args.against}: no telephony/inbound.py at that revision")
    WORK.mkdir(parents=True, exist_ok=True)
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        database_url = prepare_database(db, args.pg_url)
        if database_url is None:
            continue
        env = server_env(database_url, port=0, extra={})
        command = [sys.executable, __file__, "--worker", "--calls", str(args.calls)]
        command += ["--rounds", str(args.rounds)] + (
            ["--against", args.against] if args.against else []
        )
        subprocess.run(command, cwd=ROOT, env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
