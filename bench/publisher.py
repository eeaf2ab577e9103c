"""The release soak's publisher: edit the demo's texts and publish, every few seconds.

Run by bench/run.py with the server's own environment (bench/settings.py, the same
DATABASE_URL), beside gunicorn:

    python bench/publisher.py --every 2 --seconds 60

Every `--every` seconds (the first at `--every`, the last before `--seconds`) it sets the
Say steps that open the demo's flows (main menu, sales, voicemail, voicemail thanks) to
the texts of the next release (bench/calls.py `release_texts()`: "Release 7 greeting.
Thank you for calling..."), saving each step through the ORM as the admin does (so the
draft's counter moves and the signals run), then publishes the draft with
`telephony.releases.publishing.publish(note=...)`, as `manage.py publish_flows` does.

It prints one JSON line per publish, flushed at once:

    {"release": 7, "before": <time.time() before the edits>, "after": <after the commit>}

or {"error": "...", "at": ...} for a publish that failed, and ends with {"done": N}.
New calls may get release 7 from `after` on (the commit is before it), and must within
about a second (flows/cache.py's watcher). It stops by itself after `--seconds`.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.db.models import Max  # noqa: E402

from bench.calls import release_texts  # noqa: E402
from telephony.models import Release, Step  # noqa: E402
from telephony.releases import publishing  # noqa: E402


def say(line: dict) -> None:
    print(json.dumps(line), flush=True)


def edit_and_publish() -> dict:
    number = (Release.objects.aggregate(Max("number"))["number__max"] or 0) + 1
    before = time.time()
    for (slug, position), text in release_texts(number).items():
        step = Step.objects.get(flow__slug=slug, position=position)
        step.text = text
        step.save()  # as the admin saves it: the draft's counter moves (telephony/signals.py)
    published = publishing.publish(note=f"Soak: the texts of release {number}.")
    after = time.time()
    if published.release.number != number:  # another publisher? the texts would lie
        raise RuntimeError(f"published as release {published.release.number}, not {number}")
    return {"release": number, "before": before, "after": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=2.0, help="seconds between publishes")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to go on")
    args = parser.parse_args()
    started = time.monotonic()
    count = 0
    k = 1
    while k * args.every < args.seconds:
        due = started + k * args.every
        time.sleep(max(0.0, due - time.monotonic()))
        try:
            say(edit_and_publish())
            count += 1
        except Exception as error:  # counted by run.py as a failed publish; go on
            say({"error": f"{type(error).__name__}: {error}", "at": time.time()})
        k += 1
    say({"done": count})


if __name__ == "__main__":
    main()
