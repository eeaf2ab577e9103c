"""Queue the tasks of sending broadcasts whose worker died: run it as a worker starts."""

from django.core.management.base import BaseCommand

from telephony.broadcasts import services


class Command(BaseCommand):
    help = "Resume broadcasts left 'sending' by a worker that died (run before db_worker)."

    def handle(self, *args, **options):
        ids = services.resume_stalled()
        self.stdout.write(
            f"Resumed {len(ids)} broadcast(s){': ' if ids else ''}{', '.join(map(str, ids))}."
        )
