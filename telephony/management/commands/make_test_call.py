"""Start one outbound call through the configured backend and show the result."""

from django.core.management.base import BaseCommand

from telephony.management.errors import EXPECTED, command_error
from telephony.sending import services


class Command(BaseCommand):
    help = "Call a number and run a flow (or a TwiML URL) through services.make_call()."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="Number to call, E.164.")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--flow", help="Slug of the flow to run when they answer.")
        target.add_argument("--url", help="Absolute URL of TwiML to run instead.")
        parser.add_argument(
            "--from",
            dest="from_",
            help="Caller ID: one of our numbers or a verified caller ID (default: the first).",
        )

    def handle(self, *args, to, flow=None, url=None, from_=None, **options):
        try:
            log = services.make_call(to=to, flow=flow, url=url, from_=from_)
        except EXPECTED as exc:
            raise command_error(exc) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Call {log.sid} from {log.from_number} to {log.to_number}: {log.status}, "
                f"running {log.url} (call log #{log.pk})."
            )
        )
