"""App configs: the telephony app (registers the system checks and the flow cache's
signal handlers) and the admin, whose default site is Switchboard's (sites.py)."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class TelephonyConfig(AppConfig):
    default = True  # "telephony" in INSTALLED_APPS; the admin's config is named in full
    name = "telephony"
    verbose_name = "Telephony"

    def ready(self):
        from telephony import signals, system_checks  # noqa: F401  (importing registers checks)

        signals.connect()


class SwitchboardAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "telephony.sites.SwitchboardAdminSite"
