"""Send one SMS through the configured backend (TELEPHONY_BACKEND) and show the result."""

from django.core.management.base import BaseCommand

from telephony.management.errors import EXPECTED, command_error
from telephony.sending import services


class Command(BaseCommand):
    help = "Send a test SMS through services.send_sms() (and log it like any other)."

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, help="Recipient, E.164 (+14155551234).")
        parser.add_argument(
            "--from", dest="from_", help="One of our SMS-capable numbers (default: the first)."
        )
        parser.add_argument("--body", default="Test message from Switchboard.", help="The text.")

    def handle(self, *args, to, from_=None, body, **options):
        try:
            log = services.send_sms(to=to, body=body, from_=from_)
        except EXPECTED as exc:
            raise command_error(exc) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"SMS {log.sid} from {log.from_number} to {log.to_number}: {log.status} "
                f"(message log #{log.pk})."
            )
        )
