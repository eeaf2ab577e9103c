"""One Voicemail row per RecordingSid, whatever Twilio sends first and however often.

Three requests describe one message: the Record verb's action (RecordingSid, RecordingUrl,
RecordingDuration), the recording status callback (RecordingStatus completed or absent),
and, when the step transcribes, the transcription callback (TranscriptionText and
-Status). They come in any order and may be retried; each fills the fields it knows into
the one row for the recording (`get_or_create` on the unique RecordingSid, then the row is
locked while it is merged: race-safe on PostgreSQL), and never empties a field another
request filled.

An empty recording (RecordingDuration 0, or RecordingStatus absent) is not a voicemail:
it is logged and nothing is stored or sent.
"""

import logging
from dataclasses import dataclass

from django.db import transaction

from telephony.models import CallFlow, Step, Voicemail, VoicemailBox
from telephony.models.voicemail import RECORDING_SID
from telephony.text import printable

logger = logging.getLogger(__name__)

MAX_INT = 2**31 - 1


def whole_number(value: str) -> int | None:
    """A non-negative whole number that fits a column, or None for anything else."""
    value = (value or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= MAX_INT else None


@dataclass(frozen=True)
class Report:
    """What one request told us of a recording; empty strings/None for what it did not."""

    recording_sid: str
    call_sid: str = ""
    caller: str = ""
    called: str = ""
    recording_url: str = ""
    recording_status: str = ""
    duration: int | None = None
    transcript: str | None = None
    transcript_status: str = ""
    box_id: int | None = None  # where the step (of the call's release) records into
    step_id: int | None = None  # the draft's rows the step and its flow match, if any
    flow_id: int | None = None
    transcribed: bool = False  # the step asked Twilio to transcribe
    source: str = "callback"


def _recording_url(url: str) -> str:
    # Twilio's URLs are https://api.twilio.com/...; anything else is kept out of the row
    # (the audio view checks the host again before fetching anything).
    return url if url.startswith(("https://", "http://")) and len(url) <= 500 else ""


def record(report: Report) -> Voicemail | None:
    """Store what `report` says; returns the row, or None when nothing was stored."""
    sid = report.recording_sid
    if not RECORDING_SID.match(sid):
        logger.warning(
            "Voicemail %s: no valid RecordingSid (%r); ignored", report.source, printable(sid, 40)
        )
        return None
    if report.recording_status == "absent" or report.duration == 0:
        logger.info(
            "Recording %s of call %s is empty (%s): no voicemail stored",
            sid,
            printable(report.call_sid, 34),
            report.recording_status or "duration 0",
        )
        return None

    # The rows the call's release named may have been deleted from the draft since.
    report = _existing_rows(report)
    # The box named by the step (a box deleted since: none).
    box_id = (
        report.box_id
        if report.box_id and VoicemailBox.objects.filter(pk=report.box_id).exists()
        else None
    )
    with transaction.atomic():
        voicemail, created = Voicemail.objects.select_for_update().get_or_create(
            recording_sid=sid,
            defaults={"box_id": box_id},
        )
        changed = _merge(voicemail, report, box_id=box_id)
        if changed:
            voicemail.save(update_fields=[*changed, "updated_at"])
        from telephony.voicemail import notices

        notices.schedule(voicemail, created=created)
    if created:
        logger.info("Voicemail %s stored (%s) in box %s", sid, report.source, box_id)
    return voicemail


def _existing_rows(report: Report) -> Report:
    """`report` without the step and flow rows that no longer exist."""
    step_id = report.step_id if Step.objects.filter(pk=report.step_id or 0).exists() else None
    flow_id = report.flow_id if CallFlow.objects.filter(pk=report.flow_id or 0).exists() else None
    if (step_id, flow_id) == (report.step_id, report.flow_id):
        return report
    return Report(**{**report.__dict__, "step_id": step_id, "flow_id": flow_id})


def _merge(voicemail: Voicemail, report: Report, *, box_id) -> list[str]:
    """Fill in what the row lacks; returns the names of the fields changed."""
    changed = []

    def fill(name, value):
        if value not in (None, "") and getattr(voicemail, name) in (None, ""):
            setattr(voicemail, name, value)
            changed.append(name)

    if voicemail.box_id is None:
        fill("box_id", box_id)
    fill("call_sid", report.call_sid[:34])
    fill("caller", report.caller[:128])
    fill("called", report.called[:128])
    fill("recording_url", _recording_url(report.recording_url))
    fill("duration", report.duration)
    fill("step_id", report.step_id)
    fill("flow_id", report.flow_id)
    if report.transcribed and not voicemail.expects_transcript:
        voicemail.expects_transcript = True
        changed.append("expects_transcript")
    # Statuses: a final word ("completed", "failed") is kept over a later "in-progress".
    if report.recording_status and voicemail.recording_status != "completed":
        if report.recording_status != voicemail.recording_status:
            voicemail.recording_status = report.recording_status[:20]
            changed.append("recording_status")
    if report.transcript_status and voicemail.transcript_status not in ("completed", "failed"):
        if report.transcript_status != voicemail.transcript_status:
            voicemail.transcript_status = report.transcript_status[:20]
            changed.append("transcript_status")
            if not voicemail.expects_transcript:
                voicemail.expects_transcript = True
                changed.append("expects_transcript")
    if report.transcript and not voicemail.transcript:
        voicemail.transcript = report.transcript
        changed.append("transcript")
    return changed
