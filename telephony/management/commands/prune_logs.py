"""manage.py prune_logs --older-than 400d [--dry-run] [--batch-size N]: delete old call
logs, call events and message logs in short batches (telephony/logs/retention.py)."""

from django.core.management.base import BaseCommand, CommandError

from telephony.logs import retention
from telephony.management.commands.prune_voicemails import parse_age


class Command(BaseCommand):
    help = (
        "Delete call logs, their call events and message logs older than an age (e.g. "
        "400d), in batches, each its own short transaction. Call logs a voicemail still "
        "names are kept (prune_voicemails has the voicemails' own retention)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="400d, 52w, 12h.")
        parser.add_argument("--dry-run", action="store_true", help="Count them; delete nothing.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.DEFAULT_BATCH_SIZE,
            metavar="N",
            help=f"Rows deleted per transaction (default {retention.DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args, older_than, dry_run=False, batch_size=None, verbosity=1, **options):
        age = parse_age(older_than)
        if batch_size is None or batch_size < 1:
            raise CommandError("--batch-size must be a whole number of rows, at least 1.")

        def report(model, done):
            if verbosity >= 2:
                self.stdout.write(f"  {done:,} {model._meta.verbose_name_plural} deleted so far")

        result = retention.prune(age=age, dry_run=dry_run, batch_size=batch_size, report=report)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {result.calls:,} call log(s), {result.events:,} call event(s) and "
            f"{result.messages:,} message log(s) older than {older_than} "
            f"(before {result.cutoff:%Y-%m-%d %H:%M} UTC)."
        )
        if result.kept_calls:
            self.stdout.write(
                f"Kept {result.kept_calls:,} older call log(s) and their events: voicemails "
                "still name them (prune_voicemails removes old voicemails)."
            )
