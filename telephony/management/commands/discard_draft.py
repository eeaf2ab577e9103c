"""manage.py discard_draft: reset the draft to the live release (or to release N)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from telephony.flows.fixtures import content_hash, draft_fixture
from telephony.management.errors import EXPECTED, command_error
from telephony.models import Release
from telephony.releases import drafts
from telephony.releases.changes import describe
from telephony.releases.publishing import live_release


class Command(BaseCommand):
    help = (
        "Discard the draft's changes: make the draft the live release again (or release N). "
        "Callers are not affected; the edits made since are lost."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--release", type=int, metavar="N", help="Reset the draft to release N instead."
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args, release=None, interactive=True, **options):
        target = Release.objects.filter(number=release).first() if release else live_release()
        if target is None:
            raise CommandError(
                f"There is no release {release} (manage.py releases lists them)."
                if release
                else "Nothing is published yet: there is no release to reset the draft to."
            )
        before = draft_fixture()
        if content_hash(before) == target.content_hash:
            self.stdout.write(f"The draft is release {target.number} already: nothing to discard.")
            return
        changes = describe(target.fixture, before)
        self.stdout.write(
            f"These changes in the draft (compared with release {target.number}) are discarded:"
        )
        for change in changes:
            self.stdout.write(f"  {change}")
        if interactive and sys.stdin.isatty():
            answer = input("Type 'yes' to discard them: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Nothing discarded.")
        try:
            drafts.discard_changes(to=target.number)
        except EXPECTED as exc:
            raise command_error(exc) from exc
        self.stdout.write(self.style.SUCCESS(f"The draft is release {target.number} again."))
        live = live_release()
        if live is None or live.content_hash != target.content_hash:
            self.stdout.write(
                "Callers still get the live release: publish the draft to make it live."
            )
