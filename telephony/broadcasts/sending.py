"""What a worker does for a broadcast: claim a few recipients, keep the shared pace, send
each exactly once, record the outcome.

Exactly once, step by step:
1. Claim: a small batch of queued recipients becomes "sending" under this batch's token
   (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so workers never wait on each other;
   SQLite, which serialises writers: a conditional UPDATE ... WHERE state = 'queued').
2. Record the attempt: a pending MessageLog (services.record_pending_sms), linked to the
   recipient only if this batch still holds it.
3. Wait for the next slot in the sender's and the account's pace (sending/pace.py).
4. Send: services.deliver_pending_sms claims the message (pending -> submitting) with one
   conditional UPDATE, asks Twilio, and records the answer.
A worker killed before 4 leaves a message that never reached Twilio: recover_claims()
queues it again. Killed during 4, the message stays "submitting": the recipient is marked
unknown, and never resent.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from telephony.broadcasts import segments
from telephony.broadcasts.services import recover_claims
from telephony.exceptions import (
    RecipientOptedOut,
    TelephonyError,
    TelephonySendError,
    TelephonyValidationError,
    TwilioTimeout,
    TwilioUnavailable,
)
from telephony.models import Broadcast, BroadcastRecipient
from telephony.models.broadcasts import fill
from telephony.sending import pace, services
from telephony.sending.tasks import retry_delay

logger = logging.getLogger(__name__)

Recipient = BroadcastRecipient
QUEUE_FULL_CODES = {21611}  # "exceeded the maximum number of queued messages"
QUEUE_FULL_PAUSE = 10.0  # seconds the sender rests after Twilio said its queue is full


@dataclass
class Run:
    """How a run ended: "done" (nothing left), "stopped" (paused/cancelled), or "more"
    (go on at `run_after`: time ran out, Twilio is busy, or others hold the last ones)."""

    outcome: str
    sent: int = 0
    run_after: datetime | None = None


def claim(broadcast: Broadcast, size: int) -> list[BroadcastRecipient]:
    token = uuid.uuid4().hex
    now = timezone.now()
    queued = Recipient.objects.filter(broadcast=broadcast, state=Recipient.State.QUEUED)
    claimed = {"state": Recipient.State.SENDING, "claim": token, "claimed_at": now}
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            ids = list(
                queued.order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:size]
            )
            Recipient.objects.filter(pk__in=ids).update(**claimed)
    else:
        ids = list(queued.order_by("pk").values_list("pk", flat=True)[:size])
        queued.filter(pk__in=ids).update(**claimed)
    return list(Recipient.objects.filter(claim=token, state=Recipient.State.SENDING))


def _finish(row, state, exc=None, **changes) -> None:
    if exc is not None:
        changes.setdefault("error_code", getattr(exc, "code", None))
        changes.setdefault("error_message", str(exc)[:2000])
    Recipient.objects.filter(pk=row.pk, state=Recipient.State.SENDING).update(
        state=state, finished_at=timezone.now(), **changes
    )


def _requeue(rows, **changes) -> None:
    Recipient.objects.filter(pk__in=[row.pk for row in rows], state=Recipient.State.SENDING).update(
        state=Recipient.State.QUEUED, claim="", **changes
    )


def send_one(broadcast: Broadcast, row: BroadcastRecipient) -> str:
    """Send to one claimed recipient: "sent", "failed", "skipped", "unknown", "lost"
    (another worker took it over), "retry" (Twilio busy) or "slow" (queue full)."""
    body = fill(broadcast.body, row.variables)
    message_id = row.message_id
    if message_id is None:
        media = [broadcast.media_url] if broadcast.media_url else []
        try:
            with transaction.atomic():
                log = services.record_pending_sms(
                    to=row.number, sender=broadcast.sender, body=body, media_urls=media
                )
                linked = Recipient.objects.filter(
                    pk=row.pk, claim=row.claim, state=Recipient.State.SENDING
                ).update(message=log)
                if not linked:
                    transaction.set_rollback(True)
                    return "lost"
        except RecipientOptedOut:
            _finish(row, Recipient.State.SKIPPED, skip_reason="opted out (STOP)")
            return "skipped"
        except TelephonyValidationError as exc:
            _finish(row, Recipient.State.FAILED, exc)
            return "failed"
        message_id = log.pk
    # The slot is taken last, just before Twilio is asked, so what reaches Twilio keeps
    # the spacing the slots have (a slot taken earlier would let a late worker catch up
    # in a burst).
    cost = max(1, segments.count(body).count)
    pace.wait_for_slot(broadcast.sender, rate=broadcast.sender_rate(), cost=cost)
    last_try = row.attempts + 1 >= settings.TELEPHONY_TASK_RETRY_ATTEMPTS
    try:
        log = services.deliver_pending_sms(message_id=message_id, retry_later=not last_try)
    except TwilioTimeout as exc:
        _finish(row, Recipient.State.UNKNOWN, exc)
        return "unknown"
    except TwilioUnavailable as exc:
        if last_try:
            _finish(row, Recipient.State.FAILED, exc)
            return "failed"
        _requeue([row], attempts=row.attempts + 1, error_message=str(exc)[:2000])
        return "retry"
    except TelephonySendError as exc:
        if exc.code in QUEUE_FULL_CODES and not last_try:
            # Recorded as failed (it was not sent); the next attempt records a new message.
            _requeue([row], attempts=row.attempts + 1, message=None, error_code=exc.code)
            pace.hold_back(broadcast.sender, QUEUE_FULL_PAUSE)
            return "slow"
        _finish(row, Recipient.State.FAILED, exc)
        return "failed"
    except TelephonyError as exc:  # opted out meanwhile, configuration
        _finish(row, Recipient.State.FAILED, exc)
        return "failed"
    if log is None:  # another worker (after a recovery) sends or sent this message
        return "lost"
    _finish(row, Recipient.State.SENT, error_code=None, error_message="")
    return "sent"


def run(broadcast_id: int, *, seconds: float = 30.0, attempt: int = 1) -> Run:
    """Send for up to `seconds`, batch after batch, while the broadcast is sending (a
    call campaign: calling.place_one calls each recipient)."""
    from telephony.broadcasts import calling  # it builds on this module's helpers

    deadline = time.monotonic() + seconds
    sent = 0
    while True:
        broadcast = Broadcast.objects.select_related("phone_number").filter(pk=broadcast_id)
        broadcast = broadcast.first()
        if broadcast is None:
            return Run("stopped", sent)
        now = timezone.now()
        if broadcast.state == Broadcast.State.SCHEDULED:
            if broadcast.start_at and broadcast.start_at > now:
                return Run("more", sent, broadcast.start_at)
            Broadcast.objects.filter(pk=broadcast.pk, state=Broadcast.State.SCHEDULED).update(
                state=Broadcast.State.SENDING, started_at=now
            )
            continue
        if broadcast.state != Broadcast.State.SENDING:
            return Run("stopped", sent)
        if time.monotonic() >= deadline:
            return Run("more", sent)
        Broadcast.objects.filter(pk=broadcast.pk).update(heartbeat_at=now)
        recover_claims(broadcast=broadcast)
        size = max(1, min(20, int(broadcast.sender_rate())))  # about a second's work
        batch = claim(broadcast, size)
        if not batch:
            left = broadcast.recipients.filter(
                state__in=[Recipient.State.QUEUED, Recipient.State.SENDING]
            ).exists()
            if left:  # other workers hold the last ones; look again when theirs may be lost
                return Run("more", sent, now + timedelta(seconds=5))
            Broadcast.objects.filter(pk=broadcast.pk, state=Broadcast.State.SENDING).update(
                state=Broadcast.State.DONE, finished_at=now
            )
            logger.info("Broadcast %s done", broadcast.pk)
            return Run("done", sent)
        send = calling.place_one if broadcast.is_call else send_one
        for index, row in enumerate(batch):
            outcome = send(broadcast, row)
            sent += outcome == "sent"
            if outcome == "stopped":  # a campaign paused itself (its flow is not live)
                _requeue(batch[index + 1 :])
                return Run("stopped", sent)
            if outcome in ("retry", "slow"):
                _requeue(batch[index + 1 :])
                delay = retry_delay(attempt) if outcome == "retry" else QUEUE_FULL_PAUSE
                return Run("more", sent, timezone.now() + timedelta(seconds=delay))
            if index % 5 == 4:  # a pause or cancel takes effect within a few messages
                state = Broadcast.objects.filter(pk=broadcast.pk).values_list("state", flat=True)
                if state.first() != Broadcast.State.SENDING:
                    _requeue(batch[index + 1 :])
                    return Run("stopped", sent)
        attempt = 1
