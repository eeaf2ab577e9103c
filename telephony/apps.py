"""App config: registers the system checks and the flow cache's signal handlers."""

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self):
        from telephony import signals, system_checks  # noqa: F401  (importing registers checks)

        signals.connect()
