"""Root URLconf: the admin and Twilio's webhooks."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from .views import healthz

urlpatterns = [
    # First: Django tries patterns in order, and Twilio's webhooks are most of the traffic.
    path("twilio/", include("telephony.webhooks.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
