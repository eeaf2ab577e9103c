"""Benchmark data: seed the number under test (and a large database), count the soak's logs.

Run by bench/run.py with the benchmark's settings and DATABASE_URL:

    python bench/data.py seed            # the demo; the bench number and its 10-step menu
    python bench/data.py seed --bulk     # plus 10,000 numbers and 1,000 flows of 50 steps
    python bench/data.py report FILE     # how the SIDs the soak sent (JSON FILE) were logged

Each prints one JSON line for run.py. Bulk rows go in with bulk_create (no signals), so
the flow cache is invalidated at the end. The demo (telephony/fixtures/demo.json) is what
the peer view of bench/peer.py builds in code, so it is loaded first: its Gather's primary
key is then the one the peer names.
"""

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from telephony.flows import cache as flowcache  # noqa: E402
from telephony.models import CallFlow, MenuOption, PhoneNumber, Step  # noqa: E402

BENCH_NUMBER = "+15005550100"
DEMO_NUMBER = "+15005550006"
BULK_FLOWS = 1000
BULK_STEPS = 50
BULK_NUMBERS = 10_000


def say(text, **fields):
    return {"verb": "say", "text": text, **fields}


# Ten steps, the shape of a real menu: greeting, menu, what happens without input.
MENU_STEPS = [
    say("Thank you for calling the benchmark company.", voice="Polly.Joanna"),
    {"verb": "pause", "length": 1},
    say("Calls may be recorded for quality and training purposes."),
    {
        "verb": "gather",
        "input": "dtmf speech",
        "num_digits": 1,
        "timeout": 5,
        "text": "For sales press 1 or say sales. For support press 2 or say support.",
    },
    say("Sorry, we did not hear anything."),
    {"verb": "play", "url": "https://example.com/audio/hold.mp3"},
    say("Please hold while we connect you to the operator."),
    {"verb": "dial", "dial_target": "+14155550100", "timeout": 20},
    say("Nobody could take your call. Please leave a message after the tone."),
    {"verb": "record", "max_length": 60},
]
TARGET_STEPS = [say(f"Sales, sentence {i}.") for i in range(1, 9)] + [
    {"verb": "dial", "dial_target": "+14155550101", "timeout": 20},
    {"verb": "hangup"},
]


def make_flow(slug, steps):
    flow = CallFlow.objects.create(name=slug.replace("-", " ").title(), slug=slug)
    Step.objects.bulk_create(
        Step(flow=flow, position=i, **fields) for i, fields in enumerate(steps, start=1)
    )
    return flow


def seed_demo():
    # Once: `seed --bulk` runs on the database `seed` filled, and keeps what is there.
    if not CallFlow.objects.filter(slug="main-menu").exists():
        call_command("loaddata", "demo", verbosity=0)


@transaction.atomic
def seed_bench():
    CallFlow.objects.filter(slug__startswith="bench-").delete()
    PhoneNumber.objects.filter(number=BENCH_NUMBER).delete()
    sales = make_flow("bench-sales", TARGET_STEPS)
    support = make_flow("bench-support", TARGET_STEPS)
    menu = make_flow("bench-menu", MENU_STEPS)
    MenuOption.objects.create(flow=menu, digits="1", phrase="sales", target_flow=sales)
    MenuOption.objects.create(flow=menu, digits="2", phrase="support", target_flow=support)
    PhoneNumber.objects.create(number=BENCH_NUMBER, friendly_name="Benchmark", call_flow=menu)


@transaction.atomic
def seed_bulk():
    if CallFlow.objects.filter(slug__startswith="bulk-").exists():
        return
    flows = CallFlow.objects.bulk_create(
        CallFlow(name=f"Bulk {i}", slug=f"bulk-{i:04d}") for i in range(BULK_FLOWS)
    )
    steps = []
    for flow in flows:
        steps.append(Step(flow=flow, position=1, verb="gather", num_digits=1, text="Choose."))
        steps += [
            Step(flow=flow, position=p, verb="say", text=f"{flow.slug} sentence {p}.")
            for p in range(2, BULK_STEPS + 1)
        ]
    Step.objects.bulk_create(steps, batch_size=5000)
    MenuOption.objects.bulk_create(
        MenuOption(flow=flow, digits="1", target_flow=flows[(i + 1) % len(flows)])
        for i, flow in enumerate(flows)
    )
    PhoneNumber.objects.bulk_create(
        (
            PhoneNumber(number=f"+1628{i:07d}", call_flow=flows[i % len(flows)])
            for i in range(BULK_NUMBERS)
        ),
        batch_size=5000,
    )


def report(path):
    """For each kind of SID the soak sent: how many rows carry them, and any duplicates."""
    from django.db.models import Count

    from telephony.models import CallLog, MessageLog

    sent = json.loads(Path(path).read_text())
    result = {}
    for kind, model in (("calls", CallLog), ("messages", MessageLog), ("prelude", CallLog)):
        sids = sent.get(kind, [])
        logged, statuses = 0, {}
        for start in range(0, len(sids), 5000):  # bounded IN lists
            rows = model.objects.filter(sid__in=sids[start : start + 5000])
            logged += rows.count()
            for row in rows.values("status").annotate(n=Count("pk")):
                statuses[row["status"]] = statuses.get(row["status"], 0) + row["n"]
        duplicates = (
            model.objects.values("sid").annotate(n=Count("pk")).filter(n__gt=1, sid__isnull=False)
        )
        result[kind] = {
            "sent": len(sids),
            "logged": logged,
            "statuses": statuses,
            "duplicate_sids_in_table": duplicates.count(),
            "rows_in_table": model.objects.count(),
        }
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed")
    seed.add_argument("--bulk", action="store_true", help="add the large data set")
    commands.add_parser("report").add_argument("file")
    args = parser.parse_args()
    if args.command == "report":
        return report(args.file)
    seed_demo()
    seed_bench()
    if args.bulk:
        seed_bulk()
    flowcache.invalidate()
    gather = Step.objects.get(flow__slug="bench-menu", verb="gather")
    demo_gather = Step.objects.get(flow__slug="main-menu", verb="gather")
    print(
        json.dumps(
            {
                "number": BENCH_NUMBER,
                "gather_path": f"/twilio/voice/flows/bench-menu/steps/{gather.pk}/gather/",
                "demo_number": DEMO_NUMBER,
                "demo_gather_path": (
                    f"/twilio/voice/flows/main-menu/steps/{demo_gather.pk}/gather/"
                ),
                "flows": CallFlow.objects.count(),
                "steps": Step.objects.count(),
                "numbers": PhoneNumber.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
