"""A URLconf without Twilio's webhooks (tests/test_wsgi.py swaps it in)."""

from django.urls import path

from config.views import healthz

urlpatterns = [path("healthz", healthz)]
