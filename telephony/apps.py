"""App config: registers the system checks and the flow cache's signal handlers."""

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self):
        from django.db.models.signals import post_migrate

        from telephony import signals
        from telephony import system_checks as checks  # noqa: F401  (importing checks registers them)

        signals.connect()
        post_migrate.connect(signals.create_cache_table, sender=self)
