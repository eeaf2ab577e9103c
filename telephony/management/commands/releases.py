"""manage.py releases: the published releases, newest first, and which one is live."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from telephony.flows.fixtures import content_hash, draft_fixture
from telephony.models import Release
from telephony.releases.changes import describe
from telephony.releases.publishing import live_release

NOTE_WIDTH = 60


class Command(BaseCommand):
    help = "List the releases: number, when, who, the note; * marks the live one."

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit", type=int, default=20, help="Show this many, newest first (0: all)."
        )
        parser.add_argument(
            "--changes",
            action="store_true",
            help="Also say what each release changed from the one before.",
        )

    def handle(self, *args, limit=20, changes=False, **options):
        live = live_release()
        total = Release.objects.count()
        if not total:
            self.stdout.write(
                'Nothing is published yet: `manage.py publish_flows --note "..."` publishes '
                "the draft as release 1."
            )
            return
        releases = Release.objects.select_related("author").order_by("-number")
        shown = list(releases[:limit] if limit > 0 else releases)
        self.stdout.write(f"   {'#':>4}  {'Published':<16}  {'Author':<12}  Note")
        for release in shown:
            marker = "*" if live is not None and release.number == live.number else " "
            author = release.author.get_username() if release.author else "-"
            when = timezone.localtime(release.created_at).strftime("%Y-%m-%d %H:%M")
            self.stdout.write(
                f" {marker} {release.number:>4}  {when:<16}  {author:<12}  {_note(release.note)}"
            )
            if changes:
                before = Release.objects.filter(number__lt=release.number).order_by("-number")
                previous = before.first()
                for change in describe(previous.fixture if previous else None, release.fixture):
                    self.stdout.write(f"{'':>11}{change}")
        if total > len(shown):
            self.stdout.write(f"... and {total - len(shown)} older (--limit 0 lists all).")
        if live is None:
            self.stdout.write("No release is live.")
        else:
            self.stdout.write(f"* live: release {live.number}, what callers get now.")
            if content_hash(draft_fixture()) != live.content_hash:
                self.stdout.write(
                    "The draft has changes not published yet "
                    "(`manage.py publish_flows --dry-run` shows them)."
                )


def _note(note: str) -> str:
    note = " ".join(note.split())
    return note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 1].rstrip() + "…"
