"""manage.py simulate_sms: send an incoming message through the real SMS webhook."""

from django.core.management.base import BaseCommand, CommandError

from telephony.exceptions import TelephonyError
from telephony.management.commands.simulate_call import add_release_arguments, release_option
from telephony.tools.simulator import DEFAULT_FROM, SmsSimulator, error_text, quiet_logs


class Command(BaseCommand):
    help = "Post an incoming SMS to /twilio/sms/, signed as Twilio signs it, and print the reply."

    def add_arguments(self, parser):
        parser.add_argument(
            "--to", required=True, help="Our number the message is sent to (E.164)."
        )
        parser.add_argument("--body", required=True, help="The message text.")
        parser.add_argument("--from", dest="sender", default=DEFAULT_FROM, help="Sender's number.")
        add_release_arguments(parser, "Answer from")

    def handle(self, *args, **options):
        release = release_option(options)
        try:
            with quiet_logs(options["verbosity"]):
                transcript = SmsSimulator(sender=options["sender"], release=release).run(
                    to=options["to"], body=options["body"]
                )
        except TelephonyError as error:
            raise CommandError(error_text(error)) from None
        for line in transcript.lines:
            self.stdout.write(line.text if line.kind in ("start", "end") else f"  {line.text}")
