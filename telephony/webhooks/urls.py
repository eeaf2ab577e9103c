"""Twilio's webhook URLs (see README, "Webhook URLs").

The first five are what staff paste into the Twilio console and serve the live release
(the draft to test callers). The rest are handed to Twilio by the TwiML itself and name
their release, so a call stays on the release it began with.
"""

from django.urls import path, register_converter

from telephony.webhooks.fallback import FallbackWebhook
from telephony.webhooks.messaging import ReleaseSmsWebhook, SmsWebhook
from telephony.webhooks.status import StatusWebhook
from telephony.webhooks.voice import (
    ConferenceEventsWebhook,
    ConferenceWebhook,
    DialOutcomeWebhook,
    DialRecordingWebhook,
    EnqueueOutcomeWebhook,
    FlowWebhook,
    GatherWebhook,
    RecordOutcomeWebhook,
    ReleaseVoiceWebhook,
    ScreenAcceptWebhook,
    ScreenWebhook,
    SmsStepWebhook,
    VoiceWebhook,
    WaitMusicWebhook,
)
from telephony.webhooks.voicemail import (
    LegacyRecordingWebhook,
    LegacyTranscriptionWebhook,
    RecordingWebhook,
    TranscriptionWebhook,
)


class ReleaseConverter:
    """A release in a URL: its number, or "draft"."""

    regex = "draft|[0-9]{1,9}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value) -> str:
        return str(value)


register_converter(ReleaseConverter, "release")

app_name = "telephony"

_release = "releases/<release:release>"
_step = f"{_release}/flows/<slug:slug>/steps/<int:position>"
# Before releases (migration 0007) a Record step's callbacks named the step's row; a
# recording made then may still call back.
_legacy_voicemail = "voicemail/steps/<int:step_pk>"

urlpatterns = [
    path("voice/", VoiceWebhook.as_view(), name="voice"),
    path("voice/flows/<slug:slug>/", FlowWebhook.as_view(), name="flow"),
    path("sms/", SmsWebhook.as_view(), name="sms"),
    path("status/", StatusWebhook.as_view(), name="status"),
    path("fallback/", FallbackWebhook.as_view(), name="fallback"),
    path(f"{_release}/voice/", ReleaseVoiceWebhook.as_view(), name="release_voice"),
    path(f"{_release}/sms/", ReleaseSmsWebhook.as_view(), name="release_sms"),
    path(f"{_release}/flows/<slug:slug>/", FlowWebhook.as_view(), name="release_flow"),
    path(f"{_step}/gather/", GatherWebhook.as_view(), name="gather"),
    path(f"{_step}/dial/", DialOutcomeWebhook.as_view(), name="dial"),
    path(f"{_step}/dial/recording/", DialRecordingWebhook.as_view(), name="dial_recording"),
    path(f"{_step}/screen/", ScreenWebhook.as_view(), name="screen"),
    path(f"{_step}/screen/accept/", ScreenAcceptWebhook.as_view(), name="screen_accept"),
    path(f"{_step}/record/", RecordOutcomeWebhook.as_view(), name="record"),
    path(f"{_step}/enqueue/", EnqueueOutcomeWebhook.as_view(), name="enqueue"),
    path(f"{_step}/wait/", WaitMusicWebhook.as_view(), name="wait"),
    path(f"{_step}/sms/", SmsStepWebhook.as_view(), name="sms_step"),
    path(f"{_step}/conference/", ConferenceWebhook.as_view(), name="conference"),
    path(
        f"{_step}/conference/events/",
        ConferenceEventsWebhook.as_view(),
        name="conference_events",
    ),
    path(f"{_step}/recording/", RecordingWebhook.as_view(), name="voicemail_recording"),
    path(f"{_step}/transcription/", TranscriptionWebhook.as_view(), name="voicemail_transcription"),
    path(f"{_legacy_voicemail}/recording/", LegacyRecordingWebhook.as_view()),
    path(f"{_legacy_voicemail}/transcription/", LegacyTranscriptionWebhook.as_view()),
]
