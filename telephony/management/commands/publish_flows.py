"""manage.py publish_flows: publish the draft (or roll back to a release) from a shell."""

from django.core.management.base import BaseCommand, CommandError

from telephony.exceptions import PublishBlocked
from telephony.flows.fixtures import content_hash, draft_fixture
from telephony.management.errors import EXPECTED, command_error
from telephony.models import Release
from telephony.releases import publishing
from telephony.releases.changes import describe
from telephony.tools.flow_checks import ERROR, find_problems


class Command(BaseCommand):
    help = (
        "Publish the draft (what staff edited in the admin) as a new release: callers get it "
        "on their next call, calls in progress finish on theirs. Prints what changes first; "
        "refused while the flow checks report errors. --release N makes release N live again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--note", default="", help="What changed and why (kept in the history)."
        )
        parser.add_argument(
            "--release",
            type=int,
            metavar="N",
            help="Roll back: make release N live again (as a new release with its content).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print the changes and the flow checks; publish nothing.",
        )

    def handle(self, *args, note="", release=None, dry_run=False, **options):
        live = publishing.live_release()
        try:
            if release is not None:
                self.roll_back(live, release, note=note, dry_run=dry_run)
            else:
                self.publish(live, note=note, dry_run=dry_run)
        except PublishBlocked as exc:
            self.write_findings(exc.findings)
            raise command_error(exc) from exc
        except EXPECTED as exc:
            raise command_error(exc) from exc

    # --- publishing the draft ---

    def publish(self, live: Release | None, *, note: str, dry_run: bool):
        draft = draft_fixture()
        if live is not None and live.content_hash == content_hash(draft):
            message = f"Nothing to publish: the draft is release {live.number}, which is live."
            if not dry_run:
                raise CommandError(message)
            self.stdout.write(message)
            return
        if not dry_run and not note.strip():
            raise CommandError('Say what changed: --note "..." (kept in the history of releases).')
        self.write_changes(
            live.fixture if live else None,
            draft,
            f"Changes from release {live.number} (live) to the draft:"
            if live
            else "Nothing is published yet; the draft holds:",
        )
        if dry_run:
            findings = find_problems()
            self.write_findings(findings)
            errors = sum(finding.severity == ERROR for finding in findings)
            if errors:
                raise CommandError(
                    f"Publishing would be refused: the flow checks found {errors} error(s)."
                )
            self.stdout.write("Dry run: nothing published.")
            return
        published = publishing.publish(note=note, expected_live=live.number if live else None)
        self.write_findings(published.warnings)
        self.stdout.write(
            self.style.SUCCESS(
                f"Published release {published.release.number}: new calls get it now"
                + (f"; calls in progress finish on release {live.number}." if live else ".")
            )
        )

    # --- rolling back ---

    def roll_back(self, live: Release | None, number: int, *, note: str, dry_run: bool):
        earlier = Release.objects.filter(number=number).first()
        if earlier is None:
            raise CommandError(f"There is no release {number} (manage.py releases lists them).")
        if live is not None and live.content_hash == earlier.content_hash:
            raise CommandError(
                f"Release {number} is what callers get already (live: release {live.number})."
            )
        self.write_changes(
            live.fixture if live else None,
            earlier.fixture,
            f"Changes from release {live.number} (live) back to release {number}:"
            if live
            else f"Release {number} holds:",
        )
        if dry_run:
            self.stdout.write("Dry run: nothing rolled back.")
            return
        published = publishing.roll_back(
            to=number, note=note, expected_live=live.number if live else None
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Release {number} is live again, as release {published.release.number}: "
                "new calls get it now."
            )
        )
        if content_hash(draft_fixture()) != published.release.content_hash:
            self.stdout.write(
                "The draft still holds the newer changes (publishing would bring them back); "
                f"`manage.py discard_draft` resets it to release {published.release.number}."
            )

    # --- output ---

    def write_changes(self, old: str | None, new: str, heading: str):
        self.stdout.write(heading)
        changes = describe(old, new)
        for change in changes:
            self.stdout.write(f"  {change}")
        if not changes:
            self.stdout.write("  (nothing callers or texters would notice)")

    def write_findings(self, findings):
        for finding in findings:
            style = self.style.ERROR if finding.severity == ERROR else self.style.WARNING
            self.stdout.write(style(str(finding)))
