"""Benchmark data: seed the number under test (and a large database), count the soak's logs.

Run by bench/run.py with the benchmark's settings and DATABASE_URL:

    python bench/data.py seed            # the demo; the bench number and its 10-step menu
    python bench/data.py seed --bulk     # plus 10,000 numbers and 1,000 flows of 50 steps
    python bench/data.py report FILE     # how the SIDs the soak sent (JSON FILE) were logged
    python bench/data.py release-texts   # the demo's opening Says in every release

Each prints one JSON line for run.py. Callers get the live release, not the draft, so
`seed` ends by publishing what it wrote: the demo (telephony/fixtures/demo.json, what the
peer view of bench/peer.py builds in code) and the bench menu, together as release 1 on
a fresh database, the release the peer's URLs name; `seed --bulk` then publishes the
large data set as release 2. Bulk rows go in with bulk_create (no signals), so the flow
cache is invalidated before publishing. The paths printed are release URLs
(/twilio/releases/N/flows/<slug>/steps/<position>/gather/), the positions as published.
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

from telephony.exceptions import NothingToPublish  # noqa: E402
from telephony.flows import cache as flowcache  # noqa: E402
from telephony.flows.loading import load_snapshot  # noqa: E402
from telephony.models import (  # noqa: E402
    CallFlow,
    MenuOption,
    PhoneNumber,
    Release,
    Step,
    VoicemailBox,
)
from telephony.releases import publishing  # noqa: E402

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
    # Into the demo's box: a Record step without one is a flow-check error, which blocks
    # publishing.
    {"verb": "record", "max_length": 60, "box": "Front desk"},
]
TARGET_STEPS = [say(f"Sales, sentence {i}.") for i in range(1, 9)] + [
    {"verb": "dial", "dial_target": "+14155550101", "timeout": 20},
    {"verb": "hangup"},
]


def make_flow(slug, steps):
    flow = CallFlow.objects.create(name=slug.replace("-", " ").title(), slug=slug)
    boxes = {box.name: box for box in VoicemailBox.objects.all()}
    Step.objects.bulk_create(
        Step(
            flow=flow,
            position=i,
            **(fields | {"box": boxes[fields["box"]]} if "box" in fields else fields),
        )
        for i, fields in enumerate(steps, start=1)
    )
    return flow


def seed_demo():
    # Once: `seed --bulk` runs on the database `seed` filled, and keeps what is there.
    # loaddata rather than `manage.py seed_demo`, which would publish the demo alone as
    # release 1: the bench menu goes into the same release (see publish()).
    if not CallFlow.objects.filter(slug="main-menu").exists():
        call_command("loaddata", "demo", verbosity=0)


@transaction.atomic
def seed_bench():
    if CallFlow.objects.filter(slug="bench-menu").exists():
        return  # as `seed` left it (and as published): `seed --bulk` keeps it
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


def publish(note: str) -> int:
    """Publish the draft (what this script wrote); the live release's number."""
    try:
        return publishing.publish(note=note).release.number
    except NothingToPublish:  # `seed --bulk` twice: the draft is the live release already
        return publishing.live_release().number


def gather_path(release: int, slug: str) -> str:
    """The URL path of the first Gather of flow `slug` in `release`: what the flow's TwiML
    hands Twilio as the Gather's action."""
    loaded = load_snapshot(str(release)).flow(slug)
    step = next(step for step in loaded.steps if step.verb == Step.Verb.GATHER)
    return f"/twilio/releases/{release}/flows/{slug}/steps/{step.position}/gather/"


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
    recordings = sent.get("recordings", [])
    if recordings:
        from telephony.models import Voicemail

        stored = sum(
            Voicemail.objects.filter(recording_sid__in=recordings[start : start + 5000]).count()
            for start in range(0, len(recordings), 5000)
        )
        result["recordings"] = {"sent": len(recordings), "stored": stored}
    print(json.dumps(result))


def release_texts():
    """For every release, as stored: the text of each flow's first step, by "slug/1"
    (the release soak checks them against what its publisher wrote)."""
    result = {}
    for number, fixture in Release.objects.order_by("number").values_list("number", "fixture"):
        result[number] = {
            f"{obj['fields']['flow'][0]}/1": obj["fields"]["text"]
            for obj in json.loads(fixture)
            if obj["model"] == "telephony.step" and obj["fields"]["position"] == 1
        }
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed")
    seed.add_argument("--bulk", action="store_true", help="add the large data set")
    commands.add_parser("report").add_argument("file")
    commands.add_parser("release-texts")
    args = parser.parse_args()
    if args.command == "report":
        return report(args.file)
    if args.command == "release-texts":
        return release_texts()
    seed_demo()
    seed_bench()
    if args.bulk:
        seed_bulk()
    flowcache.invalidate()
    release = publish("The benchmark's large data set." if args.bulk else "The benchmark's data.")
    print(
        json.dumps(
            {
                "release": release,
                "number": BENCH_NUMBER,
                "gather_path": gather_path(release, "bench-menu"),
                "demo_number": DEMO_NUMBER,
                "demo_gather_path": gather_path(release, "main-menu"),
                "flows": CallFlow.objects.count(),
                "steps": Step.objects.count(),
                "numbers": PhoneNumber.objects.count(),
                "releases": Release.objects.count(),
            }
        )
    )


if __name__ == "__main__":
    main()
