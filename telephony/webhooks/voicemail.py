"""Twilio's recording and transcription callbacks for Record steps (voicemail).

Both are StoringWebhookViews: a message that cannot be stored is answered 503 and the
request logged for `replay_webhook`. The step in the path and `?box=` in the query (set by the Record
TwiML, flows/twiml.py) say where the message goes; the RecordingSid says which message.
Anything Twilio would never send (no RecordingSid, junk numbers, NUL bytes) is logged and
answered 200 with an empty response: nothing to store, nothing to retry.
"""

from twilio.twiml.voice_response import VoiceResponse

from telephony.voicemail import recordings
from telephony.webhooks.base import StoringWebhookView
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


class RecordingWebhook(StoringWebhookView):
    """recordingStatusCallback: RecordingStatus completed (or absent), with the URL."""

    def handle(self, request, step_pk):
        recordings.record(
            report_from(
                request,
                source="recording callback",
                box_id=_query_id(request, "box"),
                step_id=step_pk,
            )
        )
        return VoiceResponse()


class TranscriptionWebhook(StoringWebhookView):
    """transcribeCallback: TranscriptionText and TranscriptionStatus of the recording."""

    def handle(self, request, step_pk):
        status = param(request, "TranscriptionStatus", 20)
        text = param(request, "TranscriptionText", 20000)
        report = report_from(
            request,
            source="transcription callback",
            box_id=_query_id(request, "box"),
            step_id=step_pk,
            transcript=text if status == "completed" else None,
            transcript_status=status or ("completed" if text else ""),
        )
        # This callback's RecordingStatus/Duration describe the transcription, not the
        # recording's emptiness: never let them drop the message.
        report = recordings.Report(**{**report.__dict__, "recording_status": "", "duration": None})
        recordings.record(report)
        return VoiceResponse()
