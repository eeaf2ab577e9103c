"""Telling a box's people about a new voicemail: one email (and optional texts), once.

A notice goes out when the message is complete: its transcript arrived (or failed), or,
for a step that does not transcribe, as soon as its duration is known. In case the
transcript never comes, a second task is queued when the row is created, to run
TELEPHONY_TRANSCRIPT_WAIT seconds later; whichever task comes first claims the notice
(a conditional UPDATE), so it is sent once however many callbacks and tasks there are.

A notice that cannot be sent never touches the voicemail itself: the row keeps its
recording and shows `notice_status` and `notice_error` in the inbox. Email failures are
retried with the backoff of telephony/sending/tasks.py, TELEPHONY_TASK_RETRY_ATTEMPTS in
all; texts go out once the email has (each through services.send_sms, so each is in the
Message log), and a text that fails is noted on the row without resending the email.
"""

import logging
import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskContext, task

from telephony.exceptions import TelephonyError
from telephony.models import Voicemail

logger = logging.getLogger(__name__)

N = Voicemail.Notice


def transcript_wait() -> float:
    return float(getattr(settings, "TELEPHONY_TRANSCRIPT_WAIT", 120))


def is_complete(voicemail: Voicemail) -> bool:
    if not voicemail.duration:
        return False
    if not voicemail.expects_transcript:
        return True
    return voicemail.transcript_status in ("completed", "failed") or bool(voicemail.transcript)


def schedule(voicemail: Voicemail, *, created: bool) -> None:
    """Queue the notice task(s) once the current transaction commits."""
    if voicemail.notice_status != N.PENDING:
        return
    pk = voicemail.pk
    if created:
        run_after = timezone.now() + timedelta(seconds=transcript_wait())
        transaction.on_commit(lambda: _enqueue(pk, run_after=run_after))
    if is_complete(voicemail):
        transaction.on_commit(lambda: _enqueue(pk))


def _enqueue(pk: int, *, run_after=None, attempt: int = 1) -> None:
    try:
        target = (
            send_voicemail_notice.using(run_after=run_after) if run_after else send_voicemail_notice
        )
        target.enqueue(voicemail_id=pk, attempt=attempt)
    except Exception as exc:  # the voicemail is stored; say on it why nobody was told
        logger.exception("Could not queue the notice of voicemail %s", pk)
        Voicemail.objects.filter(pk=pk, notice_status=N.PENDING).update(
            notice_error=f"Could not queue the notice: {type(exc).__name__}: {exc}"
        )


def admin_link(voicemail: Voicemail) -> str:
    path = reverse("admin:telephony_voicemail_change", args=[voicemail.pk])
    base = (getattr(settings, "SITE_URL", "") or settings.TELEPHONY_PUBLIC_URL or "").rstrip("/")
    return f"{base}{path}"


def local_time(voicemail: Voicemail) -> str:
    name = voicemail.box.time_zone if voicemail.box else settings.TIME_ZONE
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return voicemail.created_at.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z")


def _transcript_text(voicemail: Voicemail) -> str:
    if voicemail.transcript:
        return voicemail.transcript
    if not voicemail.expects_transcript:
        return "(not transcribed)"
    if voicemail.transcript_status == "failed":
        return "(Twilio could not transcribe this message)"
    return "(no transcript yet)"


def email_message(voicemail: Voicemail) -> tuple[str, str]:
    box = voicemail.box.name if voicemail.box else "no box"
    caller = voicemail.caller or "an unknown caller"
    subject = f"New voicemail in {box} from {caller}"
    body = (
        f"A caller left a message in the voicemail box {box}.\n\n"
        f"From:          {caller}\n"
        f"Number called: {voicemail.called or '-'}\n"
        f"When:          {local_time(voicemail)}\n"
        f"Length:        {voicemail.duration or 0} seconds\n\n"
        f"Transcript:\n{_transcript_text(voicemail)}\n\n"
        f"Listen to it in the inbox: {admin_link(voicemail)}\n"
    )
    return " ".join(subject.split()), body


def sms_text(voicemail: Voicemail) -> str:
    box = voicemail.box.name if voicemail.box else "voicemail"
    text = (
        f"New voicemail in {box} from {voicemail.caller or 'unknown'} ({voicemail.duration or 0}s)"
    )
    if voicemail.transcript:
        snippet = voicemail.transcript[:200]
        text += f': "{snippet}"'
    return f"{text}. {admin_link(voicemail)}"


def deliver(*, voicemail_id: int, attempt: int = 1) -> str:
    """Send the notice of `voicemail_id` unless another task has; returns its status."""
    last_attempt = attempt >= settings.TELEPHONY_TASK_RETRY_ATTEMPTS
    claimed = Voicemail.objects.filter(
        pk=voicemail_id, notice_status__in=[N.PENDING, N.RETRYING]
    ).update(notice_status=N.SENDING, notice_attempts=F("notice_attempts") + 1)
    if not claimed:
        return "skipped"
    voicemail = Voicemail.objects.select_related("box").get(pk=voicemail_id)
    emails = voicemail.box.email_recipients() if voicemail.box else []
    phones = voicemail.box.sms_recipients() if voicemail.box else []
    if not emails and not phones:
        _finish(voicemail, N.NOBODY, "")
        return N.NOBODY
    if emails:
        subject, body = email_message(voicemail)
        try:
            send_mail(subject, body, None, emails, fail_silently=False)
        except Exception as exc:
            error = f"Email attempt {attempt} failed: {type(exc).__name__}: {exc}"
            logger.warning("Voicemail %s: %s", voicemail.recording_sid, error)
            if last_attempt:
                _finish(voicemail, N.FAILED, error)
                raise
            _finish(voicemail, N.RETRYING, error)
            from telephony.sending.tasks import retry_delay

            run_after = timezone.now() + timedelta(seconds=retry_delay(attempt))
            _enqueue(voicemail.pk, run_after=run_after, attempt=attempt + 1)
            return N.RETRYING
    problems = []
    for phone in phones:
        from telephony.sending import services

        try:
            services.send_sms(to=phone, body=sms_text(voicemail))
        except (TelephonyError, ValueError) as exc:
            problems.append(f"Text to {phone} not sent: {exc}")
    _finish(voicemail, N.SENT, "\n".join(problems))
    return N.SENT


def _finish(voicemail: Voicemail, status: str, error: str) -> None:
    Voicemail.objects.filter(pk=voicemail.pk).update(
        notice_status=status, notice_error=error, updated_at=timezone.now()
    )


@task(takes_context=True)
def send_voicemail_notice(context: TaskContext, voicemail_id: int, attempt: int = 1) -> dict:
    """Email (and text) the box's people about voicemail `voicemail_id`, once."""
    return {
        "voicemail_id": voicemail_id,
        "notice": deliver(voicemail_id=voicemail_id, attempt=attempt),
    }
