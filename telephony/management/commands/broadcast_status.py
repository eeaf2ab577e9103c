"""Print a broadcast's progress (a call campaign's: also its calls' outcomes)."""

from django.core.management.base import BaseCommand, CommandError

from telephony.broadcasts import services
from telephony.models import Broadcast


class Command(BaseCommand):
    help = "Show a broadcast's progress: counts by state, rate, time left."

    def add_arguments(self, parser):
        parser.add_argument("id", help="The broadcast's id.")

    def handle(self, *args, id, **options):
        broadcast = Broadcast.objects.filter(pk=int(id)).first() if id.isdigit() else None
        if broadcast is None:
            raise CommandError(f"There is no broadcast {id}.")
        p = services.progress(broadcast)
        counts = ", ".join(f"{n} {state}" for state, n in p["counts"].items() if n)
        # A call's outcome is on the next line; delivery is a text's.
        delivery = f"{p['delivered']} delivered, {p['undelivered']} undelivered; "
        self.stdout.write(
            f"Broadcast {broadcast.pk} {broadcast.name!r}: {broadcast.state}, "
            f"{p['done']}/{p['total']} done ({p['percent']}%): {counts or 'no recipients'}; "
            f"{'' if broadcast.is_call else delivery}"
            f"{p['invalid']} invalid rows, {p['duplicates']} duplicates; "
            f"{p['rate']:.{2 if broadcast.is_call else 1}f}/s, about {round(p['seconds_left'])} s left."
        )
        if broadcast.is_call:
            calls = services.call_outcomes(broadcast)
            outcomes = ", ".join(f"{n} {outcome}" for outcome, n in calls["outcomes"].items())
            pressed = ", ".join(f"{n} pressed {key}" for key, n in calls["pressed"].items())
            self.stdout.write(
                f"Calls (flow {broadcast.flow_slug!r}): {outcomes}; {pressed or 'nobody pressed anything yet'}."
            )
        unknown = broadcast.recipients.filter(state="unknown").values_list("number", flat=True)
        for number in unknown[:50]:
            self.stdout.write(f"unknown outcome (check the Twilio console): {number}")
