"""Twilio's recording and transcription callbacks for Record steps (voicemail).

Both are StoringWebhookViews: a message that cannot be stored is answered 503 and the
request logged for `replay_webhook`. The release, flow and step in the path (set by the
Record TwiML, flows/twiml.py) say where the message goes, `?box=` too (the box the step
recorded into when the call was made); the RecordingSid says which message.
Anything Twilio would never send (no RecordingSid, junk numbers, NUL bytes) is logged and
answered 200 with an empty response: nothing to store, nothing to retry.
"""

from twilio.twiml.voice_response import VoiceResponse

from telephony.flows import journey
from telephony.flows.fixtures import stored_pk
from telephony.flows.loading import snapshot
from telephony.models import Step, VoicemailBox
from telephony.voicemail import recordings
from telephony.webhooks.base import StoringWebhookView
from telephony.webhooks.journey import record_journey
from telephony.webhooks.params import param


def report_from(request, *, source: str, **extra) -> recordings.Report:
    """What a Twilio request (callback or Record action) says of its recording."""
    duration = param(request, "RecordingDuration")
    return recordings.Report(
        recording_sid=param(request, "RecordingSid", 34),
        call_sid=param(request, "CallSid", 34),
        caller=param(request, "From", 128),
        called=param(request, "To", 128),
        recording_url=param(request, "RecordingUrl", 500),
        recording_status=param(request, "RecordingStatus", 20),
        duration=recordings.whole_number(duration) if duration else None,
        source=source,
        **extra,
    )


def _query_id(request, name: str) -> int | None:
    return recordings.whole_number(request.GET.get(name, "")) or None


def _step_of(release: str, slug: str, position: int) -> dict:
    """Where the Record step of that release records: its box, step and flow rows."""
    loaded_release = snapshot(release)
    loaded = loaded_release.flow(slug) if loaded_release else None
    step = loaded.step_at(position) if loaded else None
    if step is None:  # not in that release (cannot be, unless edited by hand): box alone
        return {}
    return {
        "step_id": stored_pk(step),
        "flow_id": stored_pk(loaded.flow),
        "transcribed": step.transcribe,
        "box_id": stored_pk(step.box),
    }


def _legacy_step(step_pk: int) -> dict:
    step = Step.objects.filter(pk=step_pk).first()
    if step is None:
        return {}
    return {"step_id": step.pk, "flow_id": step.flow_id, "transcribed": step.transcribe}


class RecordingWebhook(StoringWebhookView):
    """recordingStatusCallback: RecordingStatus completed (or absent), with the URL."""

    def step(self, **kwargs) -> dict:
        return _step_of(kwargs["release"], kwargs["slug"], kwargs["position"])

    def where(self, request, **kwargs) -> dict:
        where = self.step(**kwargs)
        # The box in the URL is the one the call recorded into (even if renamed since),
        # else the step's; a box deleted since is neither.
        candidates = (_query_id(request, "box"), where.get("box_id"))
        where["box_id"] = next(
            (box for box in candidates if box and VoicemailBox.objects.filter(pk=box).exists()),
            None,
        )
        return where

    def handle(self, request, **kwargs):
        where = self.where(request, **kwargs)
        report = report_from(request, source="recording callback", **where)
        voicemail = recordings.record(report)
        if voicemail is not None:  # not an empty recording
            box = voicemail.box.name if voicemail.box_id else ""
            left = journey.voicemail(
                kwargs.get("slug", ""), kwargs.get("position"), report.duration, box
            )
            record_journey(request, (left,), kwargs.get("release", ""))
        return VoiceResponse()


class TranscriptionWebhook(RecordingWebhook):
    """transcribeCallback: TranscriptionText and TranscriptionStatus of the recording."""

    def handle(self, request, **kwargs):
        where = self.where(request, **kwargs)
        status = param(request, "TranscriptionStatus", 20)
        text = param(request, "TranscriptionText", 20000)
        report = report_from(
            request,
            source="transcription callback",
            transcript=text if status == "completed" else None,
            transcript_status=status or ("completed" if text else ""),
            **where,
        )
        # This callback's RecordingStatus/Duration describe the transcription, not the
        # recording's emptiness: never let them drop the message.
        report = recordings.Report(**{**report.__dict__, "recording_status": "", "duration": None})
        recordings.record(report)
        return VoiceResponse()


class LegacyRecordingWebhook(RecordingWebhook):
    """The callback URL of a recording begun before releases: it names the step's row."""

    def step(self, **kwargs) -> dict:
        return _legacy_step(kwargs["step_pk"])


class LegacyTranscriptionWebhook(TranscriptionWebhook):
    def step(self, **kwargs) -> dict:
        return _legacy_step(kwargs["step_pk"])
