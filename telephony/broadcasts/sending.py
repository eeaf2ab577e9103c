"""What a worker does for a broadcast: claim a few recipients, keep the shared pace, send
each exactly once, record the outcome.

Exactly once, step by step:
1. Claim: a small batch of queued recipients becomes "sending" under this batch's token
   (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so workers never wait on each other;
   SQLite, which serialises writers: a conditional UPDATE ... WHERE state = 'queued').
2. Record the attempts: a pending MessageLog for each recipient of the batch
   (services.record_pending_batch), linked to its recipient, in the claim's transaction
   (claim_and_record): a handful of statements for the whole batch.
3. Per message: claim it (services.claim_pending_sms: pending -> submitting, one
   conditional UPDATE), wait for its slot in the sender's and the account's pace
   (sending/pace.py), then ask Twilio and record the answer (services.send_claimed_sms).
   Claiming before the wait leaves only the request itself after the slot, so what
   reaches Twilio keeps the slots' spacing.
4. At the end of the batch, the recipients whose messages Twilio accepted are marked sent
   with one UPDATE (their messages already say so).
A worker killed before 3 leaves messages that never reached Twilio: recover_claims()
queues them again. Killed during 3, the message stays "submitting": the recipient is
marked unknown, and never resent. Killed before 4, recover_claims() gives each
recipient its message's outcome.

Per message that leaves two flushed commits (the claim, Twilio's answer); the pace is
reserved a batch at a time (pace.Block), and the run keeps a single HTTP connection to
Twilio (one backend for the whole run). A worker that cannot keep up with its blocks
(Twilio answers slowly, the machine is busy) while other workers share the broadcast
(TELEPHONY_BROADCAST_TASKS > 1) takes one slot per message for the rest of its run, so
that the others' messages fit between its own and more workers still send faster.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from telephony.broadcasts import queue_full, segments
from telephony.broadcasts.services import recover_claims
from telephony.exceptions import (
    RecipientOptedOut,
    TelephonyError,
    TelephonySendError,
    TwilioTimeout,
    TwilioUnavailable,
)
from telephony.logs import statuses
from telephony.models import Broadcast, BroadcastRecipient, MessageLog
from telephony.models.broadcasts import fill
from telephony.sending import pace, services
from telephony.sending.backends import get_backend
from telephony.sending.tasks import retry_delay

logger = logging.getLogger(__name__)

Recipient = BroadcastRecipient
QUEUE_FULL_CODES = {21611}  # "exceeded the maximum number of queued messages"
QUEUE_FULL_PAUSE = queue_full.HOLD_SECONDS  # the sender rests, then goes at half pace
# A batch is about BATCH_SECONDS of sending (at most BATCH recipients): long enough that
# the bookkeeping between two batches (claim and record, ~0.15 s, during which nothing is
# sent) costs about 1% of the pace (at 4 s it cost 4%: 48/s of 50 in bench/broadcast_pace.py),
# and well inside TELEPHONY_BROADCAST_CLAIM_TIMEOUT, after which a killed worker's batch
# goes to another.
BATCH_SECONDS = 12.0
BATCH = 600
CLAIM_AHEAD = 0.05  # seconds before its slot a message is claimed (pending -> submitting)


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
        # No savepoint inside the caller's transaction (run() records the batch in it).
        with transaction.atomic(savepoint=False):
            ids = list(
                queued.order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:size]
            )
            Recipient.objects.filter(pk__in=ids).update(**claimed)
    else:
        # One UPDATE, no read before it: in a transaction, SQLite would otherwise have to
        # upgrade a read lock that another writer may share.
        first = queued.order_by("pk").values("pk")[:size]
        queued.filter(pk__in=first).update(**claimed)
    return list(Recipient.objects.filter(claim=token, state=Recipient.State.SENDING))


def claim_and_record(broadcast: Broadcast, size: int) -> list[BroadcastRecipient]:
    """claim() and record_attempts() in one transaction: what a run does per batch."""
    with transaction.atomic():
        return _record(broadcast, claim(broadcast, size))


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


def record_attempts(broadcast: Broadcast, rows: list[BroadcastRecipient]) -> list:
    """Record a pending message for each of `rows` that has none, in one transaction, and
    link it to its recipient while this batch still holds it. Recipients who opted out
    meanwhile are skipped, a message that is no valid SMS fails them. Returns the rows
    still held, each with its message."""
    if not rows:
        return []
    with transaction.atomic():
        held = Recipient.objects.filter(
            pk__in=[row.pk for row in rows], claim=rows[0].claim, state=Recipient.State.SENDING
        )
        # A write before any read: it takes the rows' locks (PostgreSQL) or the write
        # lock (SQLite), so nobody (a recovery) takes them over until this commits.
        held.update(claimed_at=timezone.now())
        return _record(broadcast, list(held.order_by("pk")))


def _record(broadcast: Broadcast, mine: list[BroadcastRecipient]) -> list:
    """record_attempts() for rows this transaction holds."""
    media = [broadcast.media_url] if broadcast.media_url else []
    fresh = [row for row in mine if row.message_id is None]
    results = services.record_pending_batch(
        sender=broadcast.sender,
        messages=[(row.number, fill(broadcast.body, row.variables)) for row in fresh],
        media_urls=media,
    )
    linked, ready = [], [row for row in mine if row.message_id is not None]
    for row, result in zip(fresh, results, strict=True):
        if isinstance(result, MessageLog):
            row.message = result
            linked.append(row)
        elif isinstance(result, RecipientOptedOut):
            _finish(row, Recipient.State.SKIPPED, skip_reason="opted out (STOP)")
        else:
            _finish(row, Recipient.State.FAILED, result)
    Recipient.objects.bulk_update(linked, ["message"])
    return sorted(ready + linked, key=lambda row: row.pk)


def _finish_sent(rows) -> None:
    """The recipients whose messages Twilio accepted: sent, in one UPDATE."""
    if rows:
        Recipient.objects.filter(
            pk__in=[row.pk for row in rows], state=Recipient.State.SENDING
        ).update(
            state=Recipient.State.SENT,
            finished_at=timezone.now(),
            error_code=None,
            error_message="",
        )


def _release(rows, *, cancelled: bool = False) -> None:
    """Give back recipients this batch recorded but did not send (a pause, Twilio busy):
    queued again - or, when the broadcast was cancelled, skipped as cancel_broadcast()
    skips the queued ones - and their messages, which never reached Twilio, removed from
    the log (the next attempt records its own)."""
    if cancelled:
        Recipient.objects.filter(
            pk__in=[row.pk for row in rows], state=Recipient.State.SENDING
        ).update(
            state=Recipient.State.SKIPPED,
            skip_reason="Cancelled before it was sent.",
            finished_at=timezone.now(),
        )
    else:
        _requeue(rows)
    ids = [row.message_id for row in rows if row.message_id is not None]
    MessageLog.objects.filter(pk__in=ids, status=statuses.PENDING).delete()


def _cost(broadcast: Broadcast, row: BroadcastRecipient) -> int:
    return max(1, segments.count(fill(broadcast.body, row.variables)).count)


def send_one(
    broadcast: Broadcast, row: BroadcastRecipient, *, backend=None, sent=None, block=None
) -> str:
    """Send to one claimed recipient: "sent", "failed", "skipped", "unknown", "lost"
    (another worker took it over), "retry" (Twilio busy), "slow" (queue full) or "late"
    (what is left of `block` cannot hold it: nothing done, the caller reserves more).

    `backend`: the one the run keeps; `sent`: a list the run marks sent at the end of
    its batch (without it, the recipient is marked sent at once); `block`: the batch's
    slots (without it, one slot is reserved for this message)."""
    if row.message_id is None:
        held = record_attempts(broadcast, [row])
        if not held:
            state = Recipient.objects.filter(pk=row.pk).values_list("state", flat=True).first()
            return state if state in (Recipient.State.SKIPPED, Recipient.State.FAILED) else "lost"
        row = held[0]
    cost = _cost(broadcast, row)
    slot = block.next_slot(cost) if block is not None else None
    if block is not None and slot is None:
        return "late"
    if slot is not None:
        # Claimed just before its slot, not a block ahead: a worker killed while it waits
        # leaves a message that never reached Twilio, queued again, not one "unknown".
        pace.sleep_until(slot - CLAIM_AHEAD)
    try:
        log = services.claim_pending_sms(message_id=row.message_id, log=row.message)
    except RecipientOptedOut:
        _finish(row, Recipient.State.SKIPPED, skip_reason="opted out (STOP)")
        return "skipped"
    if log is None:  # another worker (after a recovery) sends or sent this message
        return "lost"
    # The message is claimed before its slot, so that only the request follows the slot
    # and what reaches Twilio keeps the slots' spacing.
    if slot is None:
        slot = pace.reserve(broadcast.sender, rate=broadcast.sender_rate(), cost=cost)
    pace.sleep_until(slot)
    last_try = row.attempts + 1 >= settings.TELEPHONY_TASK_RETRY_ATTEMPTS
    try:
        log = services.send_claimed_sms(log, backend=backend, retry_later=not last_try)
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
            _requeue(
                [row],
                attempts=row.attempts + 1,
                message=None,
                error_code=exc.code,
                error_message=queue_full.MEANINGS[21611],
            )
            pace.slow_down(broadcast.sender, hold=QUEUE_FULL_PAUSE)
            return "slow"
        _finish(row, Recipient.State.FAILED, exc)
        return "failed"
    except TelephonyError as exc:  # configuration
        _finish(row, Recipient.State.FAILED, exc)
        return "failed"
    if sent is None:
        _finish(row, Recipient.State.SENT, error_code=None, error_message="")
    else:
        sent.append(row)
    return "sent"


def _backend():
    """One backend for a whole run (one HTTP connection to Twilio); None when it cannot
    be built, so that each message records why (send_claimed_sms builds it again)."""
    try:
        return get_backend()
    except TelephonyError:
        return None


def _call_batch(broadcast: Broadcast, batch, attempt: int) -> tuple[int, Run | None]:
    """Call a claimed batch of a call campaign, one recipient after another: how many were
    called, and how the run ends if it must (paused, cancelled, Twilio busy)."""
    from telephony.broadcasts import calling  # it builds on this module's helpers

    called = 0
    for index, row in enumerate(batch):
        outcome = calling.place_one(broadcast, row)
        called += outcome == "sent"
        if outcome == "stopped":  # a campaign paused itself (its flow is not live)
            _requeue(batch[index + 1 :])
            return called, Run("stopped")
        if outcome in ("retry", "slow"):
            _requeue(batch[index + 1 :])
            delay = retry_delay(attempt) if outcome == "retry" else QUEUE_FULL_PAUSE
            return called, Run("more", 0, timezone.now() + timedelta(seconds=delay))
        if index % 5 == 4:  # a pause or cancel takes effect within a few calls
            state = Broadcast.objects.filter(pk=broadcast.pk).values_list("state", flat=True)
            state = state.first()
            if state != Broadcast.State.SENDING:
                _release(batch[index + 1 :], cancelled=state == Broadcast.State.CANCELLED)
                return called, Run("stopped")
    return called, None


def run(broadcast_id: int, *, seconds: float = 30.0, attempt: int = 1) -> Run:
    """Send for up to `seconds`, batch after batch, while the broadcast is sending (a
    call campaign: calling.place_one calls each recipient)."""
    deadline = time.monotonic() + seconds
    sent = 0
    backend = _backend()
    shared = settings.TELEPHONY_BROADCAST_TASKS > 1  # other workers send it too
    one_at_a_time = False
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
        size = max(1, min(BATCH, int(broadcast.sender_rate() * BATCH_SECONDS)))
        if broadcast.is_call:  # about a second's calls
            size = max(1, min(20, int(broadcast.sender_rate())))
        # A call campaign records each call as it places it (calling.place_one).
        batch = claim(broadcast, size) if broadcast.is_call else claim_and_record(broadcast, size)
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
        if broadcast.is_call:
            called, stop = _call_batch(broadcast, batch, attempt)
            sent += called
            if stop is not None:
                return Run(stop.outcome, sent, stop.run_after)
            attempt = 1
            continue
        # The batch's slots last, once its bookkeeping is done, so that its first message
        # can go at its slot. A worker too slow for its blocks while others share the
        # broadcast takes one slot per message instead, so theirs fit between its own.
        block = None
        if not one_at_a_time:
            block = pace.reserve_block(
                broadcast.sender,
                rate=broadcast.sender_rate(),
                costs=[_cost(broadcast, row) for row in batch],
            )
        accepted = []
        try:
            index = 0
            while index < len(batch):
                row = batch[index]
                outcome = send_one(broadcast, row, backend=backend, sent=accepted, block=block)
                if outcome == "late":  # the worker fell behind its block: slots for the rest
                    one_at_a_time = block.too_slow and shared
                    block = None
                    if not one_at_a_time:
                        costs = [_cost(broadcast, row) for row in batch[index:]]
                        block = pace.reserve_block(
                            broadcast.sender, rate=broadcast.sender_rate(), costs=costs
                        )
                    continue
                sent += outcome == "sent"
                if outcome in ("retry", "slow"):
                    _release(batch[index + 1 :])
                    delay = retry_delay(attempt) if outcome == "retry" else QUEUE_FULL_PAUSE
                    return Run("more", sent, timezone.now() + timedelta(seconds=delay))
                if index % 5 == 4:  # a pause or cancel takes effect within a few messages
                    state = Broadcast.objects.filter(pk=broadcast.pk).values_list(
                        "state", flat=True
                    )
                    state = state.first()
                    if state != Broadcast.State.SENDING:
                        _release(batch[index + 1 :], cancelled=state == Broadcast.State.CANCELLED)
                        return Run("stopped", sent)
                index += 1
        finally:
            _finish_sent(accepted)
        one_at_a_time = one_at_a_time or (block is not None and block.too_slow and shared)
        attempt = 1
