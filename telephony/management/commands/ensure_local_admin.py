"""Local development only: make sure an `admin` / `admin` superuser exists.

Refuses to run unless DEBUG is on, so no deployment ever gets a fixed password.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the local admin/admin superuser if no superuser exists (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "Refusing to create a fixed-password admin with DEBUG off; "
                "run `manage.py createsuperuser` instead."
            )
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser exists already; nothing to do.")
            return
        User.objects.create_superuser("admin", "admin@localhost", "admin")
        self.stdout.write(
            self.style.WARNING("Created local superuser admin / admin (local DEBUG use only).")
        )
