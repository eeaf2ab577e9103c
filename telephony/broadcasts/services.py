"""Creating and steering broadcasts: create (import and queue), start, pause, resume,
cancel; progress; and recovery of recipients a dead worker held.

Creating 100,000 recipients costs a handful of queries: the opt-outs and the block rules
are read once (into a set), and recipients are inserted with bulk_create in batches, in one
transaction; nothing per row but building the row.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from telephony.broadcasts.recipients import Problem, RecipientList
from telephony.exceptions import TelephonyValidationError
from telephony.logs import statuses
from telephony.models import Broadcast, BroadcastRecipient, CallerRule, OptOut, PhoneNumber
from telephony.models.broadcasts import placeholders
from telephony.phone_numbers import to_e164

logger = logging.getLogger(__name__)

BATCH = 2000
Recipient = BroadcastRecipient
State = Broadcast.State


@dataclass
class Created:
    broadcast: Broadcast
    queued: int
    opted_out: int
    duplicates: int
    problems: list[Problem]
    blocked: int = 0  # numbers a block rule (for texts) names: skipped like opt-outs


def sender_number(value: str) -> PhoneNumber:
    number = to_e164(value, "from_")
    phone = PhoneNumber.objects.filter(number=number).first()
    if phone is None:
        raise TelephonyValidationError({"from_": f"{number} is not one of our numbers."})
    if not phone.sms_capable:
        raise TelephonyValidationError({"from_": f"{number} cannot send SMS."})
    return phone


def blocked_numbers(phone_number: PhoneNumber | None) -> tuple[set[str], tuple[str, ...]]:
    """The numbers nothing may be texted to from `phone_number` (None: a Messaging
    Service, so only the rules for every number): block rules that also cover texts, as
    a set of exact numbers and a tuple of prefixes (+1900* -> "+1900")."""
    rules = CallerRule.objects.filter(kind=CallerRule.Kind.BLOCK, applies_to_sms=True).filter(
        Q(phone_number=None) | Q(phone_number=phone_number)
        if phone_number is not None
        else Q(phone_number=None)
    )
    patterns = list(rules.values_list("pattern", flat=True))
    exact = {pattern for pattern in patterns if pattern.startswith("+") and "*" not in pattern}
    prefixes = tuple(pattern[:-1] for pattern in patterns if pattern.endswith("*"))
    return exact, prefixes


def create_broadcast(
    *,
    name: str,
    body: str,
    recipients: RecipientList,
    phone_number: PhoneNumber | None = None,
    messaging_service_sid: str = "",
    media_url: str = "",
    rate: float | None = None,
    start_at=None,
    start: bool = True,
) -> Created:
    """Create a broadcast with its recipients (opted-out numbers recorded as skipped) and,
    with `start`, queue it (at `start_at`, or now). Raises TelephonyValidationError."""
    missing = [n for n in placeholders(body) if n not in recipients.columns]
    if missing:
        raise TelephonyValidationError(
            {"body": f"No recipient has a value for {', '.join('{' + n + '}' for n in missing)}."}
        )
    if not recipients.rows:
        raise TelephonyValidationError({"recipients": "There is no valid number to text."})
    broadcast = Broadcast(
        name=name or "Broadcast",
        body=body,
        media_url=media_url,
        phone_number=phone_number,
        messaging_service_sid=messaging_service_sid,
        rate=rate,
        start_at=start_at,
        invalid_count=len(recipients.problems),
        duplicate_count=recipients.duplicates,
    )
    try:
        broadcast.full_clean()
    except Exception as exc:
        raise TelephonyValidationError(getattr(exc, "message_dict", str(exc))) from exc
    opted_out_numbers = {str(n) for n in OptOut.objects.values_list("number", flat=True)}
    blocked_exact, blocked_prefixes = blocked_numbers(phone_number)
    opted_out = blocked = 0
    skipped, queued = Recipient.State.SKIPPED, Recipient.State.QUEUED
    with transaction.atomic():
        broadcast.save()
        pk = broadcast.pk
        batch = []
        for number, variables in recipients.rows:
            state, reason = queued, ""
            if number in opted_out_numbers:
                state, reason = skipped, "opted out (STOP)"
                opted_out += 1
            elif number in blocked_exact or (
                blocked_prefixes and number.startswith(blocked_prefixes)
            ):
                state, reason = skipped, "blocked (a caller rule blocks texts to this number)"
                blocked += 1
            batch.append(
                Recipient(
                    broadcast_id=pk,
                    number=number,
                    variables=variables,
                    state=state,
                    skip_reason=reason,
                )
            )
            if len(batch) == BATCH:
                Recipient.objects.bulk_create(batch)
                batch = []
        Recipient.objects.bulk_create(batch)
        if start:
            start_broadcast(broadcast=broadcast, at=start_at)
    return Created(
        broadcast=broadcast,
        queued=len(recipients.rows) - opted_out - blocked,
        opted_out=opted_out,
        duplicates=recipients.duplicates,
        problems=recipients.problems,
        blocked=blocked,
    )


def _enqueue(broadcast_id: int, run_after=None) -> None:
    from telephony.broadcasts import tasks

    task = tasks.send_broadcast
    if run_after is not None:
        task = task.using(run_after=run_after)
    for _ in range(max(1, settings.TELEPHONY_BROADCAST_TASKS)):
        task.enqueue(broadcast_id=broadcast_id)


def start_broadcast(*, broadcast: Broadcast, at=None) -> None:
    """Draft (or paused) -> scheduled (a future `at`) or sending; tasks queued on commit."""
    now = timezone.now()
    future = at is not None and at > now
    state = State.SCHEDULED if future else State.SENDING
    changed = Broadcast.objects.filter(
        pk=broadcast.pk, state__in=[State.DRAFT, State.PAUSED, State.SCHEDULED]
    ).update(state=state, start_at=at, started_at=None if future else now)
    if not changed:
        raise TelephonyValidationError({"state": f"A {broadcast.state} broadcast cannot start."})
    broadcast.refresh_from_db()
    transaction.on_commit(partial(_enqueue, broadcast.pk, at if future else None))


def pause_broadcast(*, broadcast: Broadcast) -> bool:
    """Workers stop after the message they are sending; resume_broadcast() goes on."""
    done = Broadcast.objects.filter(
        pk=broadcast.pk, state__in=[State.SENDING, State.SCHEDULED]
    ).update(state=State.PAUSED)
    broadcast.refresh_from_db()
    return bool(done)


def resume_broadcast(*, broadcast: Broadcast) -> bool:
    done = Broadcast.objects.filter(pk=broadcast.pk, state=State.PAUSED).update(
        state=State.SENDING, started_at=broadcast.started_at or timezone.now()
    )
    broadcast.refresh_from_db()
    if done:
        transaction.on_commit(partial(_enqueue, broadcast.pk))
    return bool(done)


def cancel_broadcast(*, broadcast: Broadcast) -> bool:
    """Nothing more is sent: the recipients still queued are skipped ("cancelled"), in the
    same transaction, so the counts add up; one a worker holds right now (sending) ends as
    that send does."""
    now = timezone.now()
    with transaction.atomic():
        done = Broadcast.objects.filter(
            pk=broadcast.pk, state__in=[State.DRAFT, State.SCHEDULED, State.SENDING, State.PAUSED]
        ).update(state=State.CANCELLED, finished_at=now)
        if done:
            BroadcastRecipient.objects.filter(
                broadcast=broadcast, state=BroadcastRecipient.State.QUEUED
            ).update(
                state=BroadcastRecipient.State.SKIPPED,
                skip_reason="Cancelled before it was sent.",
                finished_at=now,
            )
    broadcast.refresh_from_db()
    return bool(done)


def resume_stalled() -> list[int]:
    """Queue tasks again for sending broadcasts whose workers died (no batch for longer
    than TELEPHONY_BROADCAST_CLAIM_TIMEOUT): run at worker start (resume_broadcasts)."""
    cutoff = timezone.now() - timedelta(seconds=settings.TELEPHONY_BROADCAST_CLAIM_TIMEOUT)
    ids = list(
        Broadcast.objects.filter(state=State.SENDING)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for pk in ids:
        _enqueue(pk)
    return ids


def recover_claims(*, broadcast: Broadcast, older_than: float | None = None) -> int:
    """Recipients claimed ("sending") longer than the claim timeout ago lost their worker.
    Those whose message never reached Twilio (no row yet, or still pending) are queued
    again; one whose worker was asking Twilio (submitting) is marked unknown - it may have
    gone out, so it is never resent; the others take their message's outcome."""
    timeout = settings.TELEPHONY_BROADCAST_CLAIM_TIMEOUT if older_than is None else older_than
    cutoff = timezone.now() - timedelta(seconds=timeout)
    stale = Recipient.objects.filter(
        broadcast=broadcast, state=Recipient.State.SENDING, claimed_at__lt=cutoff
    ).select_related("message")
    count = 0
    for row in stale[:1000]:
        mine = Recipient.objects.filter(pk=row.pk, state=Recipient.State.SENDING, claim=row.claim)
        message = row.message
        if message is None or message.status == statuses.PENDING:
            changes = {"state": Recipient.State.QUEUED, "claim": ""}
        elif message.status == statuses.SUBMITTING:
            changes = {
                "state": Recipient.State.UNKNOWN,
                "error_message": "The worker stopped while asking Twilio: it may have been "
                "sent. Check the Twilio console; it is not sent again.",
            }
            logger.error("Broadcast %s: %s outcome unknown (worker lost)", broadcast.pk, row.number)
        elif message.status in (statuses.FAILED, statuses.UNKNOWN):
            changes = {
                "state": message.status,
                "error_code": message.error_code,
                "error_message": message.error_message,
            }
        else:
            changes = {"state": Recipient.State.SENT}
        changes.setdefault("finished_at", timezone.now())
        count += mine.update(**changes)
    return count


def progress(broadcast: Broadcast) -> dict:
    """Counts by state (sent split by delivery status), the rate over the last minute
    and the time left at that rate (or at the broadcast's own)."""
    by_state = dict(broadcast.recipients.values_list("state").annotate(n=Count("pk")).order_by())
    delivery = dict(
        broadcast.recipients.filter(state=Recipient.State.SENT)
        .values_list("message__status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {state: by_state.get(state, 0) for state in Recipient.State.values}
    total = sum(counts.values())
    since = timezone.now() - timedelta(seconds=60)
    recent = broadcast.recipients.filter(finished_at__gte=since).count()
    rate = recent / 60 if recent else 0.0
    waiting = counts["queued"] + counts["sending"]
    pace = rate or broadcast.sender_rate()
    done = total - waiting
    return {
        "total": total,
        "counts": counts,
        "delivered": delivery.get("delivered", 0) + delivery.get("read", 0),
        "undelivered": delivery.get("undelivered", 0) + delivery.get("failed", 0),
        "done": done,
        "percent": round(100 * done / total) if total else 100,
        "rate": rate,
        "seconds_left": waiting / pace if waiting and broadcast.state == State.SENDING else 0,
        "invalid": broadcast.invalid_count,
        "duplicates": broadcast.duplicate_count,
    }
