"""How long importing and queueing a broadcast of 100,000 recipients takes (target < 10 s).

    .venv/bin/python bench/broadcast_import.py                       # SQLite (a temp file)
    .venv/bin/python bench/broadcast_import.py --pg postgres://postgres@127.0.0.1:5432/sb_bcbench
    .venv/bin/python bench/broadcast_import.py --count 20000         # smaller

It writes a CSV of random US numbers (a few invalid rows, duplicates, opt-outs and
blocked numbers among them), then times what `manage.py send_broadcast` does: parse_csv
(normalising every number with phone_numbers.e164) and create_broadcast (opt-outs and
block rules read once, recipients bulk-created in batches, tasks queued). The
PostgreSQL database (named sb_*) is dropped and created again.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AREA_CODES = [201, 212, 213, 305, 312, 404, 415, 503, 512, 617, 646, 702, 713, 206, 303]


def make_csv(count: int) -> str:
    rng = random.Random(17)
    lines = ["number,name,city"]
    for i in range(count):
        if i % 1000 == 999:
            lines.append(f"not-a-number-{i},X,Y")
            continue
        npa = rng.choice(AREA_CODES)
        lines.append(f"+1{npa}{rng.randint(200, 999)}{rng.randint(0, 9999):04d},Name{i},City")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--pg", help="a PostgreSQL URL (database named sb_*) instead of SQLite")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sb-bc-import-"))
    if args.pg:
        name = args.pg.rsplit("/", 1)[1]
        if not name.startswith("sb_"):
            sys.exit("The PostgreSQL database must be named sb_* (it is dropped).")
        base = args.pg.rsplit("/", 1)[0].replace("postgres://", "")
        user, _, host = base.partition("@")
        host, _, port = host.partition(":")
        common = ["-h", host, "-U", user, "-p", port or "5432"]
        subprocess.run(["dropdb", *common, "--if-exists", name], check=True)
        subprocess.run(["createdb", *common, name], check=True)
        os.environ["DATABASE_URL"] = args.pg
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from telephony.broadcasts import recipients, services
    from telephony.models import BroadcastRecipient, CallerRule, OptOut, PhoneNumber
    from telephony.models.broadcasts import placeholders

    call_command("migrate", verbosity=0)
    phone = PhoneNumber.objects.create(number="+15005550006", send_rate=1)
    text = make_csv(args.count)
    OptOut.objects.bulk_create(
        [OptOut(number=line.split(",")[0]) for line in text.splitlines()[1:200:10]]
    )
    CallerRule.objects.bulk_create(
        [CallerRule(pattern=line.split(",")[0]) for line in text.splitlines()[2:400:20]]
    )
    text += "".join(text.splitlines(keepends=True)[1:101])  # 100 duplicates
    body = "Hi {name}, our {city} store opens Monday."

    cpu_started = time.process_time()
    started = time.perf_counter()
    parsed = recipients.parse_csv(text, needed=placeholders(body))
    parsed_at = time.perf_counter()
    created = services.create_broadcast(
        name="bench", body=body, recipients=parsed, phone_number=phone
    )
    finished = time.perf_counter()
    cpu = time.process_time() - cpu_started
    stored = BroadcastRecipient.objects.count()
    load = "/".join(f"{n:.1f}" for n in os.getloadavg())
    print(
        f"{connection.vendor} (load average {load}): {args.count} rows -> {created.queued} queued, "
        f"{created.opted_out} opted out, {created.blocked} blocked, "
        f"{len(created.problems)} invalid, "
        f"{created.duplicates} duplicates ({stored} rows stored)"
    )
    print(
        f"  parse+normalise {parsed_at - started:.2f} s, insert+queue {finished - parsed_at:.2f} s, "
        f"total {finished - started:.2f} s (target < 10 s): "
        f"{'PASS' if finished - started < 10 else 'FAIL'}"
    )
    # The CPU this process used: what a machine without other load would take, less the
    # database server's share (none for SQLite, which runs in this process).
    print(f"  CPU time of this process {cpu:.2f} s")


if __name__ == "__main__":
    main()
