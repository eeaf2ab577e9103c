"""The dashboard and the log changelists at a year of a busy line (target < 300 ms each).

    .venv/bin/python bench/logs_scale.py                 # SQLite: 200,000 calls, 1,000,000 events
    .venv/bin/python bench/logs_scale.py --pg postgres://postgres@127.0.0.1:5432/sb_logscale
    .venv/bin/python bench/logs_scale.py --pg URL --reuse   # time again, keep the data
    .venv/bin/python bench/logs_scale.py --calls 20000      # smaller (events: 5 a call)

It creates the database (SQLite: a file under /tmp; PostgreSQL: named sb_*, dropped and
created again unless --reuse), migrates it, and fills it with raw INSERT ... SELECT over
a generated series (generate_series on PostgreSQL, a recursive CTE on SQLite: seconds, not
the minutes a million ORM objects take): call logs spread over the last 365 days on 5 of
our numbers from 50,000 callers, 5 events a call (started, flow entered, a key pressed or
no input, a Dial or voicemail, the end), text messages and voicemails; then VACUUM ANALYZE (what autovacuum does
after a while; ANALYZE on SQLite).

Then, as a logged-in superuser through Django's test client (the whole admin stack, the
template rendering included), it times each page `--repeat` times and prints the median
and the slowest, with PASS/FAIL against the target: the dashboard (default range, one
number, 31 days), and each log changelist (first page, a filter, a search by number).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 300
SPAN = 365 * 86400  # seconds: the data covers the last year
OURS = [f"+1500555000{n}" for n in range(5)]
CALLERS = 50_000
# Timed for the record: the target is the dashboard's default range and its number filter.
NO_TARGET = {"dashboard, 31 days", "dashboard, 366 days"}


class Dialect:
    """The few SQL expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, vendor: str):
        self.pg = vendor == "postgresql"

    def series(self, count: int) -> tuple[str, str]:
        """(a WITH clause or "", a FROM item) yielding g = 1..count."""
        if self.pg:
            return "", f"generate_series(1::bigint, {count}::bigint) AS s(g)"
        cte = f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {count}) "
        return cte, "s"

    def sid(self, prefix: str, expr: str) -> str:
        if self.pg:
            return f"'{prefix}' || lpad(to_hex({expr}), 32, '0')"
        return f"'{prefix}' || printf('%032x', {expr})"

    def ago(self, seconds: str) -> str:
        """The time `seconds` (an integer expression) before now."""
        if self.pg:
            return f"now() - make_interval(secs => ({seconds}))"
        return f"strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || ({seconds}) || ' seconds')"

    def caller(self, expr: str) -> str:
        """+1415 2000000..2049999: valid numbers, so a search finds them exactly."""
        if self.pg:
            return f"'+1415' || (2000000 + ({expr}) % {CALLERS})::text"
        return f"'+1415' || (2000000 + ({expr}) % {CALLERS})"

    def ours(self, expr: str) -> str:
        return f"'+1500555000' || ((({expr}) % 5))"


def h(expr: str, mod: int) -> str:
    """A deterministic, well spread pseudo-random 0..mod-1 of an integer expression."""
    return f"((({expr}) * 2654435761) % {mod})"


def fill(connection, *, calls: int, messages: int, voicemails: int, flow_ids: list[int]):
    from django.db import transaction

    d = Dialect(connection.vendor)
    ago_call = f"(({calls} - g) * {SPAN}) / {calls} + 60"
    outcome = (
        f"CASE WHEN {h('g', 100)} < 50 THEN 'answered' WHEN {h('g', 100)} < 65 THEN 'abandoned' "
        f"WHEN {h('g', 100)} < 80 THEN 'voicemail' WHEN {h('g', 100)} < 90 THEN 'missed' "
        f"WHEN {h('g', 100)} < 98 THEN 'completed' ELSE '' END"
    )
    status = (
        f"CASE WHEN {h('g', 100)} < 80 THEN 'completed' WHEN {h('g', 100)} < 90 THEN 'no-answer' "
        f"WHEN {h('g', 100)} < 98 THEN 'busy' ELSE 'failed' END"
    )
    flow = "CASE " + " ".join(f"WHEN g % 5 = {i} THEN {pk}" for i, pk in enumerate(flow_ids))
    flow += " END"
    steps = []
    with_, from_ = d.series(calls)
    steps.append(
        (
            f"{calls:,} call logs",
            f"""{with_}INSERT INTO telephony_calllog (sid, direction, from_number, to_number,
            status, error_code, error_message, created_at, updated_at, flow_id, url, duration,
            conference, recording_sid, recording_url, recording_duration, outcome)
            SELECT {d.sid("CA", "g")},
                   CASE WHEN g % 10 = 0 THEN 'outbound' ELSE 'inbound' END,
                   CASE WHEN g % 10 = 0 THEN {d.ours("g")} ELSE {d.caller(h("g", 1000003))} END,
                   CASE WHEN g % 10 = 0 THEN {d.caller(h("g", 1000003))} ELSE {d.ours("g")} END,
                   {status}, CASE WHEN {h("g", 100)} >= 98 THEN 31005 END, '',
                   {d.ago(ago_call)}, {d.ago(ago_call)}, {flow}, '', {h("g", 600)}, '', '', '',
                   NULL, {outcome}
            FROM {from_}""",
        )
    )
    # Five events a call: g counts events, c = the call, k = its event (0..4).
    with_, from_ = d.series(calls * 5)
    c, k = "((g - 1) / 5 + 1)", "((g - 1) % 5)"
    kind = (
        f"CASE {k} WHEN 0 THEN 'call_started' WHEN 1 THEN 'flow_entered' "
        f"WHEN 2 THEN CASE WHEN {h(c, 10)} < 8 THEN 'input' ELSE 'no_input' END "
        f"WHEN 3 THEN CASE WHEN {h(c, 100)} BETWEEN 65 AND 79 THEN 'voicemail' "
        f"ELSE 'dial_ended' END "
        f"ELSE CASE WHEN {h(c, 100)} BETWEEN 50 AND 64 THEN 'hung_up' ELSE 'call_ended' END END"
    )
    option = (
        f"CASE WHEN {k} = 2 AND {h(c, 10)} < 8 THEN CAST(1 + {h(c, 3)} AS VARCHAR(2)) "
        f"WHEN {k} = 3 THEN 'completed' ELSE '' END"
    )
    steps.append(
        (
            f"{calls * 5:,} call events",
            f"""{with_}INSERT INTO telephony_callevent (call_sid, at, kind, release, flow,
            position, digits, speech, option, try_number, duration, detail)
            SELECT {d.sid("CA", c)}, {d.ago(f"(({calls} - {c}) * {SPAN}) / {calls} + 60 - {k} * 15")},
                   {kind}, 1, CASE WHEN {k} >= 3 THEN 'sales' ELSE 'main-menu' END,
                   {k} + 1, '', '', {option}, CASE WHEN {k} = 2 THEN 1 END, NULL, ''
            FROM {from_}""",
        )
    )
    with_, from_ = d.series(messages)
    ago_msg = f"(({messages} - g) * {SPAN}) / {messages}"
    steps.append(
        (
            f"{messages:,} message logs",
            f"""{with_}INSERT INTO telephony_messagelog (sid, direction, from_number, to_number,
            status, error_code, error_message, created_at, updated_at, body, media_urls, reply,
            call_sid, step_id)
            SELECT {d.sid("SM", "g")},
                   CASE WHEN g % 3 = 0 THEN 'outbound' ELSE 'inbound' END,
                   CASE WHEN g % 3 = 0 THEN {d.ours("g")} ELSE {d.caller(h("g", 1000003))} END,
                   CASE WHEN g % 3 = 0 THEN {d.caller(h("g", 1000003))} ELSE {d.ours("g")} END,
                   CASE WHEN g % 3 = 0 THEN 'delivered' ELSE 'received' END, NULL, '',
                   {d.ago(ago_msg)}, {d.ago(ago_msg)}, 'What are your opening hours?', '[]',
                   '', '', NULL
            FROM {from_}""",
        )
    )
    with_, from_ = d.series(voicemails)
    ago_vm = f"(({voicemails} - g) * {SPAN}) / {voicemails}"
    steps.append(
        (
            f"{voicemails:,} voicemails",
            f"""{with_}INSERT INTO telephony_voicemail (box_id, caller, called, flow_id, step_id,
            call_sid, recording_sid, recording_url, recording_status, duration,
            expects_transcript, transcript, transcript_status, state, notice_status,
            notice_error, notice_attempts, deleted_at_twilio, created_at, updated_at)
            SELECT NULL, {d.caller(h("g", 1000003))}, {d.ours("g")}, NULL, NULL,
                   {d.sid("CA", "g * 7")}, {d.sid("RE", "g")}, '', 'completed', 30, false,
                   'Please call me back about my order.', 'completed',
                   CASE WHEN g > {voicemails} - 200 THEN 'new' ELSE 'heard' END, 'sent', '',
                   1, false, {d.ago(ago_vm)}, {d.ago(ago_vm)}
            FROM {from_}""",
        )
    )
    for what, sql in steps:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
        print(f"  inserted {what} in {time.perf_counter() - started:.1f} s", flush=True)
    # What autovacuum would have done by now: statistics, and (PostgreSQL) the visibility
    # map that lets index-only scans skip the table.
    statement = "VACUUM ANALYZE" if d.pg else "ANALYZE"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(statement)
    print(f"  {statement} in {time.perf_counter() - started:.1f} s", flush=True)


def pages(flow_id: int) -> list[tuple[str, str]]:
    caller = "+14152012345"  # a valid number (NANP): the search looks it up exactly
    month_ago = time.strftime("%Y-%m-%d", time.localtime(time.time() - 30 * 86400))
    year_ago = time.strftime("%Y-%m-%d", time.localtime(time.time() - 365 * 86400))
    return [
        ("dashboard, last 7 days", "/admin/dashboard/"),
        ("dashboard, one number", f"/admin/dashboard/?number=%2B{OURS[1][1:]}"),
        ("dashboard, 31 days", f"/admin/dashboard/?start={month_ago}"),
        ("dashboard, 366 days", f"/admin/dashboard/?start={year_ago}"),
        ("call logs", "/admin/telephony/calllog/"),
        ("call logs, status failed", "/admin/telephony/calllog/?status=failed"),
        ("call logs, outcome voicemail", "/admin/telephony/calllog/?outcome__exact=voicemail"),
        ("call logs, one flow", f"/admin/telephony/calllog/?flow__id__exact={flow_id}"),
        ("call logs, inbound", "/admin/telephony/calllog/?direction__exact=inbound"),
        (
            "call logs, created today",
            "/admin/telephony/calllog/?created_at__gte="
            + time.strftime("%Y-%m-%d")
            + "+00%3A00%3A00%2B00%3A00",
        ),
        ("call logs, search a number", f"/admin/telephony/calllog/?q=%2B{caller[1:]}"),
        ("call logs, search a prefix", "/admin/telephony/calllog/?q=%2B1415201"),
        ("call logs, page 50", "/admin/telephony/calllog/?p=50"),
        ("message logs", "/admin/telephony/messagelog/"),
        ("message logs, inbound", "/admin/telephony/messagelog/?direction__exact=inbound"),
        ("message logs, search a number", f"/admin/telephony/messagelog/?q=%2B{caller[1:]}"),
        ("voicemails", "/admin/telephony/voicemail/"),
        ("voicemails, unheard", "/admin/telephony/voicemail/?state__exact=new"),
        ("voicemails, search a number", f"/admin/telephony/voicemail/?q=%2B{caller[1:]}"),
    ]


def measure(repeat: int) -> bool:
    from django.contrib.auth.models import User
    from django.test import Client

    from telephony.models import CallFlow

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    flow_id = CallFlow.objects.get(slug="bench-1").pk
    ok = True
    print(f"  {'page':34} {'median':>8} {'slowest':>8}  (ms, {repeat} runs)")
    for name, url in pages(flow_id):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                print(f"  {name}: HTTP {response.status_code} for {url}")
                break
        median = statistics.median(times)
        verdict = "PASS" if median < TARGET_MS and response.status_code == 200 else "FAIL"
        if name in NO_TARGET and response.status_code == 200:
            verdict = "(no target)"
        ok = ok and verdict != "FAIL"
        print(f"  {name:34} {median:8.1f} {max(times):8.1f}  {verdict}", flush=True)
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="a PostgreSQL URL (database named sb_*) instead of SQLite")
    parser.add_argument(
        "--calls", type=int, help="default: 1,000,000 on PostgreSQL, 200,000 on SQLite"
    )
    parser.add_argument("--messages", type=int, help="default: half the calls")
    parser.add_argument("--voicemails", type=int, help="default: a tenth of the calls")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run")
    parser.add_argument(
        "--sqlite", default=str(Path(tempfile.gettempdir()) / "sb-logscale.sqlite3")
    )
    args = parser.parse_args()
    calls = args.calls or (1_000_000 if args.pg else 200_000)
    if args.pg:
        name = args.pg.rsplit("/", 1)[1]
        if not name.startswith("sb_"):
            sys.exit("The PostgreSQL database must be named sb_* (it is dropped).")
        if not args.reuse:
            base = args.pg.rsplit("/", 1)[0].replace("postgres://", "")
            user, _, host = base.partition("@")
            host, _, port = host.partition(":")
            common = ["-h", host, "-U", user, "-p", port or "5432"]
            subprocess.run(["dropdb", *common, "--if-exists", name], check=True)
            subprocess.run(["createdb", *common, name], check=True)
        os.environ["DATABASE_URL"] = args.pg
    else:
        if not args.reuse and os.path.exists(args.sqlite):
            os.remove(args.sqlite)
        os.environ["DATABASE_URL"] = f"sqlite:///{args.sqlite}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from telephony.models import CallFlow, PhoneNumber

    print(f"{connection.vendor}: {calls:,} calls", flush=True)
    if not args.reuse:
        call_command("migrate", verbosity=0)
        for number in OURS:
            PhoneNumber.objects.create(number=number, friendly_name="Bench")
        flow_ids = [
            CallFlow.objects.create(name=f"Bench {n}", slug=f"bench-{n}").pk for n in range(5)
        ]
        fill(
            connection,
            calls=calls,
            messages=args.messages if args.messages is not None else calls // 2,
            voicemails=args.voicemails if args.voicemails is not None else calls // 10,
            flow_ids=flow_ids,
        )
    ok = measure(args.repeat)
    print("all pages under the target" if ok else f"some pages over {TARGET_MS} ms")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
