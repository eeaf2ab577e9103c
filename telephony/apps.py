"""App config: registers the system checks."""

from django.apps import AppConfig


class TelephonyConfig(AppConfig):
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self):
        from . import checks  # noqa: F401  (registers the checks)
