"""Switchboard's admin site: Django's, plus pages that belong to no one model.

Installed as the default site by `telephony.apps.SwitchboardAdminConfig` (in
INSTALLED_APPS instead of "django.contrib.admin"), so `admin.site` and `@admin.register`
everywhere mean this site.
"""

from django.contrib import admin
from django.urls import path

from telephony.admin.dashboard import DashboardView


class SwitchboardAdminSite(admin.AdminSite):
    def get_urls(self):
        dashboard = self.admin_view(DashboardView.as_view(admin_site=self))
        # Before Django's own: its catch-all "<app_label>/" would swallow ours.
        return [path("dashboard/", dashboard, name="telephony_dashboard"), *super().get_urls()]
