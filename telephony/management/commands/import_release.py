"""manage.py import_release FILE: make an exported release the draft of this install."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from telephony.flows.fixtures import draft_fixture
from telephony.management.errors import EXPECTED, command_error
from telephony.releases import drafts
from telephony.releases.changes import describe
from telephony.tools.flow_checks import ERROR, find_problems


class Command(BaseCommand):
    help = (
        "Make a release file (as `manage.py export_release` writes; - reads stdin) the draft: "
        "flows, steps, options, which flow answers each number and SMS rules become what the "
        "file holds. Nothing is live until `manage.py publish_flows` (test callers hear the "
        "draft at once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="The release file, or - for stdin.")

    def handle(self, *args, file, **options):
        text = self.read(file)
        before = draft_fixture()
        try:
            drafts.reset_draft(text)
        except EXPECTED as exc:
            raise command_error(exc) from exc
        changes = describe(before, draft_fixture())
        if not changes:
            self.stdout.write("The draft already held what the file holds: nothing changed.")
            return
        self.stdout.write("The draft now holds the file. What changed in the draft:")
        for change in changes:
            self.stdout.write(f"  {change}")
        errors = [f for f in find_problems() if f.severity == ERROR]
        for finding in errors:
            self.stdout.write(self.style.ERROR(str(finding)))
        if errors:
            self.stdout.write(
                f"The flow checks find {len(errors)} error(s): publishing is refused until "
                "they are fixed."
            )
        self.stdout.write(
            self.style.WARNING(
                "This is the draft, not live: callers get it after `manage.py publish_flows "
                '--note "..."` (test callers hear it now).'
            )
        )

    def read(self, file: str) -> str:
        if file == "-":
            return sys.stdin.read()
        try:
            return Path(file).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(f"Cannot read {file}: not UTF-8 text.") from exc
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
