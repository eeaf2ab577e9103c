"""manage.py prune_voicemails --older-than 90d: delete old voicemails here and at Twilio."""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from telephony.voicemail import removal

_AGE = re.compile(r"^(\d+)\s*([dhw]?)$")
_UNITS = {"": "days", "d": "days", "h": "hours", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """90d, 12h, 2w, or a number of days."""
    match = _AGE.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise CommandError(f"--older-than {text!r}: give an age such as 90d, 2w or 12h.")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = (
        "Delete voicemails older than an age (e.g. 90d), their recordings at Twilio first. "
        "A recording Twilio will not delete keeps its voicemail, and is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="90d, 2w, 12h.")
        parser.add_argument("--dry-run", action="store_true", help="Count them; delete nothing.")

    def handle(self, *args, older_than, dry_run=False, **options):
        age = parse_age(older_than)
        result = removal.prune(age=age, dry_run=dry_run)
        if dry_run:
            self.stdout.write(
                f"{result.deleted} voicemail(s) older than {older_than} would be deleted."
            )
            return
        self.stdout.write(f"Deleted {result.deleted} voicemail(s) older than {older_than}.")
        for voicemail, why in result.kept:
            self.stderr.write(
                f"Kept {voicemail.recording_sid} from {voicemail.caller or 'unknown'}: {why}"
            )
        if result.kept:
            raise CommandError(
                f"{len(result.kept)} voicemail(s) kept: Twilio did not delete their recordings "
                "(run again later)."
            )
