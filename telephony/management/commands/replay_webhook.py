"""manage.py replay_webhook FILE: post webhooks we could not store again, through the real views.

When the database was away, inbound messages and status callbacks were answered 503 and
logged at ERROR with everything needed to replay them (telephony/webhooks/replay.py).
Point this at the log file (plain or JSON lines; other lines are skipped) once the
database is back. Each webhook is idempotent on Twilio's SID: replaying twice is harmless.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from telephony.exceptions import TelephonyError
from telephony.tools.local_twilio import LocalTwilio
from telephony.webhooks.replay import stored_requests


class Command(BaseCommand):
    help = "Replay webhooks that were logged as not stored (see README, 'Operating')."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="Log file(s); - for stdin.")
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be replayed; post nothing."
        )

    def handle(self, *args, files, dry_run, **options):
        try:
            twilio = None if dry_run else LocalTwilio()
        except TelephonyError as error:
            raise CommandError(str(error)) from None
        replayed = failed = 0
        for name in files:
            for number, stored in stored_requests(self._lines(name)):
                sid = stored.param("MessageSid") or stored.param("CallSid") or "?"
                where = f"{name}:{number}: {stored.path} {sid}"
                if dry_run:
                    self.stdout.write(f"{where} (not posted: --dry-run)")
                    continue
                path = stored.path + (f"?{stored.query}" if stored.query else "")
                response = twilio.post_form(path, stored.params)
                ok = response.status_code == 200
                replayed, failed = replayed + ok, failed + (not ok)
                self.stdout.write(f"{where} -> {response.status_code}{'' if ok else ' FAILED'}")
        if not dry_run:
            self.stdout.write(f"Replayed {replayed} webhook(s); {failed} failed.")
        if failed:
            raise CommandError(f"{failed} webhook(s) could not be replayed; see above.")

    @staticmethod
    def _lines(name: str):
        if name == "-":
            yield from sys.stdin
            return
        try:
            with open(name, encoding="utf-8", errors="replace") as file:
                yield from file
        except OSError as error:
            raise CommandError(f"Cannot read {name}: {error.strerror}.") from None
