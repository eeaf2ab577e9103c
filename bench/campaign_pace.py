"""A call campaign's pace and exactly-once calling, with real task workers (`db_worker`
subprocesses) and the real twilio backend against tests/fake_twilio.py, on PostgreSQL.

    .venv/bin/python bench/campaign_pace.py                 # 10 calls/s for 10 s
    .venv/bin/python bench/campaign_pace.py --rate 5 --seconds 30

With the account's calls per second (TELEPHONY_ACCOUNT_MAX_CALL_RATE) set to the rate, a
campaign asking for twice as much is run with 1 worker, then 3: the achieved rate (target
within 2% of the account's), the most calls in any one-second window (target <= rate + 1),
and every number called exactly once. The database (named sb_*) is dropped and created.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(pg_url: str, fake_url: str, rate: float):
    name = pg_url.rsplit("/", 1)[1]
    if not name.startswith("sb_"):
        sys.exit("The PostgreSQL database must be named sb_* (it is dropped).")
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    os.environ.update(
        DATABASE_URL=pg_url,
        TWILIO_API_BASE_URL=fake_url,
        DJANGO_SETTINGS_MODULE="campaign_settings",
        PYTHONPATH=f"{ROOT / 'bench'}:{ROOT}",
        TELEPHONY_ACCOUNT_MAX_CALL_RATE=str(rate),
    )
    sys.path.insert(0, str(ROOT / "bench"))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from telephony.models import CallFlow, PhoneNumber, Step
    from telephony.releases import publishing

    flow = CallFlow.objects.create(name="Reminder", slug="reminder")
    Step.objects.create(flow=flow, position=1, verb="say", text="Your appointment is tomorrow.")
    PhoneNumber.objects.create(number="+15005550006", call_flow=flow)
    publishing.publish(note="The bench's reminder.")


def worker(tasks: int):
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "db_worker", "--interval", "0.1"]
        + ["--no-startup-delay", "--verbosity", "0"],
        env=dict(os.environ, TELEPHONY_BROADCAST_TASKS=str(tasks)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(fake, *, rate: float, seconds: float, workers: int, first: int):
    from django.conf import settings

    from telephony.broadcasts import recipients, services
    from telephony.models import Broadcast, PhoneNumber

    count = int(rate * seconds)
    numbers = [f"+1415{first + i:07d}" for i in range(count)]
    settings.TELEPHONY_BROADCAST_TASKS = workers
    started = time.time()
    campaign = services.create_call_campaign(
        name=f"pace {workers}",
        flow_slug="reminder",
        recipients=recipients.parse_pasted("\n".join(numbers)),
        phone_number=PhoneNumber.objects.get(),
        rate=rate * 2,  # more than the account allows: the account's ceiling holds it
    ).broadcast
    procs = [worker(workers) for _ in range(workers)]
    try:
        deadline = time.time() + seconds * 3 + 30
        while time.time() < deadline:
            if Broadcast.objects.get(pk=campaign.pk).state == Broadcast.State.DONE:
                break
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(10)
    calls = [r for r in fake.requests_to("/Calls.json") if r.at >= started and r.answered == 201]
    per_number = Counter(r.field("To") for r in calls)
    times = sorted(r.at for r in calls)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    window = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    once = sum(1 for n in per_number.values() if n == 1) == count == len(per_number)
    within = abs(achieved - rate) / rate <= 0.02 and window <= rate + 1
    print(
        f"  {workers} worker(s): {len(times)} calls in {times[-1] - times[0]:.2f} s = "
        f"{achieved:.2f}/s (target {rate:g} ±2%), max in any 1 s window {window} (target <= "
        f"{rate + 1:g}), each number once: {once}: {'PASS' if within and once else 'FAIL'}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="the account's calls/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432/sb_campaign_pace")
    args = parser.parse_args()
    from tests.fake_twilio import FakeTwilio

    with FakeTwilio() as fake:
        setup(args.pg, fake.url, args.rate)
        print(f"call campaign pace, PostgreSQL, fake Twilio answering at once ({args.seconds:g} s)")
        run(fake, rate=args.rate, seconds=args.seconds, workers=1, first=2000000)
        run(fake, rate=args.rate, seconds=args.seconds, workers=3, first=3000000)


if __name__ == "__main__":
    main()
