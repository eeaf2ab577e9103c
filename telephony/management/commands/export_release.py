"""manage.py export_release [N]: a release as a fixture file, to import elsewhere."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from telephony.models import Release
from telephony.releases.publishing import live_release


class Command(BaseCommand):
    help = (
        "Write release N (default: the live one) to stdout, or to --output FILE, in Django's "
        "fixture format with natural keys. `manage.py import_release FILE` makes it the draft "
        "of another install."
    )

    def add_arguments(self, parser):
        parser.add_argument("release", nargs="?", type=int, metavar="N", help="Release number.")
        parser.add_argument("--output", "-o", metavar="FILE", help="Write here, not to stdout.")

    def handle(self, *args, release=None, output=None, **options):
        if release is None:
            found = live_release()
            if found is None:
                raise CommandError("Nothing is published yet: there is no release to export.")
        else:
            found = Release.objects.filter(number=release).first()
            if found is None:
                raise CommandError(
                    f"There is no release {release} (manage.py releases lists them)."
                )
        if output is None:
            self.stdout.write(found.fixture)
            return
        try:
            Path(output).write_text(found.fixture + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
        self.stdout.write(f"Wrote release {found.number} to {output}.")
