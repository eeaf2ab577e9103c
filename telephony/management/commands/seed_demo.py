"""Load the demo flows and number, once: an existing database is never overwritten."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from telephony.models import CallFlow


class Command(BaseCommand):
    help = "Load the demo fixture (number +15005550006 and its menu) into an empty database."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Load even when flows exist (updates demo rows)."
        )

    def handle(self, *args, force=False, **options):
        if CallFlow.objects.exists() and not force:
            self.stdout.write("Flows already exist; demo data not loaded (use --force to reload).")
            return
        call_command("loaddata", "demo", verbosity=0)
        self.stdout.write(
            self.style.SUCCESS("Loaded the demo: +15005550006 answers with the main menu.")
        )
