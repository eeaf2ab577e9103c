"""Twilio's webhook URLs (see README, "Webhook URLs")."""

from django.urls import path

from telephony.webhooks import views as webhooks

app_name = "telephony"

_step = "voice/flows/<slug:slug>/steps/<int:step_pk>"

urlpatterns = [
    path("voice/", webhooks.VoiceWebhook.as_view(), name="voice"),
    path("voice/flows/<slug:slug>/", webhooks.FlowWebhook.as_view(), name="flow"),
    path(f"{_step}/gather/", webhooks.GatherWebhook.as_view(), name="gather"),
    path(f"{_step}/dial/", webhooks.DialOutcomeWebhook.as_view(), name="dial"),
    path(f"{_step}/record/", webhooks.RecordOutcomeWebhook.as_view(), name="record"),
    path(f"{_step}/enqueue/", webhooks.EnqueueOutcomeWebhook.as_view(), name="enqueue"),
    path(f"{_step}/wait/", webhooks.WaitMusicWebhook.as_view(), name="wait"),
    path(f"{_step}/sms/", webhooks.SmsStepWebhook.as_view(), name="sms_step"),
    path("sms/", webhooks.SmsWebhook.as_view(), name="sms"),
    path("status/", webhooks.StatusWebhook.as_view(), name="status"),
    path("fallback/", webhooks.FallbackWebhook.as_view(), name="fallback"),
]
