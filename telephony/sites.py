"""Switchboard's admin site: Django's, plus pages that belong to no one model.

Installed as the default site by `telephony.apps.SwitchboardAdminConfig` (in
INSTALLED_APPS instead of "django.contrib.admin"), so `admin.site` and `@admin.register`
everywhere mean this site. It lives outside the `telephony.admin` package, and imports
the pages only when asked for its URLs: that package registers its ModelAdmins on
`admin.site` as it is imported, which must find this site already made.
"""

from django.contrib import admin
from django.urls import path


class SwitchboardAdminSite(admin.AdminSite):
    def get_urls(self):
        from telephony.admin.dashboard import DashboardView

        dashboard = self.admin_view(DashboardView.as_view(admin_site=self))
        # Before Django's own: its catch-all "<app_label>/" would swallow ours.
        return [path("dashboard/", dashboard, name="telephony_dashboard"), *super().get_urls()]
