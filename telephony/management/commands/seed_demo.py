"""Load the demo flows and number, once, and publish them as a release: an existing
database is never overwritten."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from telephony.exceptions import NothingToPublish
from telephony.models import CallFlow
from telephony.releases import publishing


class Command(BaseCommand):
    help = (
        "Load the demo fixture (number +15005550006 and its menu) into an empty database "
        "and publish it."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even when flows exist (updates demo rows)."
        )

    def handle(self, *args, force=False, **options):
        if CallFlow.objects.exists() and not force:
            self.stdout.write("Flows already exist; demo data not loaded (use --force to reload).")
            return
        call_command("loaddata", "demo", verbosity=0)
        try:
            release = publishing.publish(note="The demo.").release.number
        except NothingToPublish:  # --force on a database whose live release is the demo
            release = publishing.live_release().number
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo and published it as release {release}: +15005550006 "
                "answers with the main menu."
            )
        )
