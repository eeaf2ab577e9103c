"""Twilio's webhook URLs (see README, "Webhook URLs")."""

from django.urls import path

from telephony.webhooks.fallback import FallbackWebhook
from telephony.webhooks.messaging import SmsWebhook
from telephony.webhooks.status import StatusWebhook
from telephony.webhooks.voice import (
    DialOutcomeWebhook,
    EnqueueOutcomeWebhook,
    FlowWebhook,
    GatherWebhook,
    RecordOutcomeWebhook,
    SmsStepWebhook,
    VoiceWebhook,
    WaitMusicWebhook,
)
from telephony.webhooks.voicemail import RecordingWebhook, TranscriptionWebhook

app_name = "telephony"

_step = "voice/flows/<slug:slug>/steps/<int:step_pk>"
_voicemail = "voicemail/steps/<int:step_pk>"  # a Record step's callbacks; ?box= in the query

urlpatterns = [
    path("voice/", VoiceWebhook.as_view(), name="voice"),
    path("voice/flows/<slug:slug>/", FlowWebhook.as_view(), name="flow"),
    path(f"{_step}/gather/", GatherWebhook.as_view(), name="gather"),
    path(f"{_step}/dial/", DialOutcomeWebhook.as_view(), name="dial"),
    path(f"{_step}/record/", RecordOutcomeWebhook.as_view(), name="record"),
    path(f"{_step}/enqueue/", EnqueueOutcomeWebhook.as_view(), name="enqueue"),
    path(f"{_step}/wait/", WaitMusicWebhook.as_view(), name="wait"),
    path(f"{_step}/sms/", SmsStepWebhook.as_view(), name="sms_step"),
    path("sms/", SmsWebhook.as_view(), name="sms"),
    path("status/", StatusWebhook.as_view(), name="status"),
    path("fallback/", FallbackWebhook.as_view(), name="fallback"),
    path(f"{_voicemail}/recording/", RecordingWebhook.as_view(), name="voicemail_recording"),
    path(
        f"{_voicemail}/transcription/",
        TranscriptionWebhook.as_view(),
        name="voicemail_transcription",
    ),
]
