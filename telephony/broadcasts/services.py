"""Creating and steering broadcasts and call campaigns: create (import and queue), start,
pause, resume, cancel; progress; recovery of recipients a dead worker held; and the
option a called person pressed.

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
from telephony.flows.callers import rule_for
from telephony.flows.loading import live_snapshot
from telephony.logs import statuses
from telephony.models import Broadcast, BroadcastRecipient, CallerRule, OptOut, PhoneNumber
from telephony.models.broadcasts import CALL_OUTCOMES, placeholders
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
    blocked: int = 0  # numbers a block rule names (for texts, or the campaign's calls)


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


def caller_id_number(value: str) -> PhoneNumber:
    """One of our voice-capable numbers, the caller ID of a call campaign."""
    number = to_e164(value, "from_")
    phone = PhoneNumber.objects.filter(number=number).first()
    if phone is None:
        raise TelephonyValidationError({"from_": f"{number} is not one of our numbers."})
    if not phone.voice_capable:
        raise TelephonyValidationError({"from_": f"{number} cannot make calls."})
    return phone


def live_flows() -> dict[str, str]:
    """The active flows of the live release a campaign can call with: slug -> name."""
    release = live_snapshot()
    if release is None:
        return {}
    return {slug: f.name for slug, f in sorted(release.flow_objects.items()) if f.is_active}


def check_campaign_flow(slug: str) -> None:
    """A campaign can call with `slug`: a flow of the live release, that Twilio can fetch."""
    if not settings.TELEPHONY_PUBLIC_URL:
        raise TelephonyValidationError(
            {
                "flow_slug": "Calls need TELEPHONY_PUBLIC_URL, the https address Twilio "
                "reaches us at: Twilio fetches the flow from there. Ask whoever runs "
                "Switchboard to set it."
            }
        )
    if not slug:
        raise TelephonyValidationError({"flow_slug": "Choose the call flow people hear."})
    if live_snapshot() is None:
        raise TelephonyValidationError(
            {"flow_slug": "Nothing is published yet: publish the flows, then call with one."}
        )
    if slug not in live_flows():
        raise TelephonyValidationError(
            {
                "flow_slug": f"The live release has no active flow {slug!r}: publish it first "
                "(a campaign calls with what callers get, not with the draft)."
            }
        )


def _blocked_by_rules(caller_id: str):
    """A test: is this number blocked from our caller ID by a caller rule of the live
    release (the rules callers meet)? Calling someone we refuse to hear from is not done."""
    release = live_snapshot()
    rules = release.caller_rules if release is not None else {}

    def blocked(number: str) -> bool:
        rule = rule_for(rules, to=caller_id, caller=number)
        return rule is not None and rule.kind == CallerRule.Kind.BLOCK

    return blocked


def create_call_campaign(
    *,
    name: str,
    flow_slug: str,
    recipients: RecipientList,
    phone_number: PhoneNumber,
    rate: float | None = None,
    start_at=None,
    start: bool = True,
) -> Created:
    """Create a call campaign: each recipient is called from `phone_number` and hears the
    live release's flow `flow_slug`, at `rate` calls per second (default 1, at most
    TELEPHONY_ACCOUNT_MAX_CALL_RATE). Opted-out numbers (STOP) and numbers a caller rule
    blocks are recorded as skipped, never called. With `start`, queued (at `start_at`, or
    now). Raises TelephonyValidationError."""
    if not recipients.rows:
        raise TelephonyValidationError({"recipients": "There is no valid number to call."})
    campaign = Broadcast(
        kind=Broadcast.Kind.CALL,
        name=name or "Call campaign",
        flow_slug=flow_slug,
        phone_number=phone_number,
        rate=rate,
        start_at=start_at,
        invalid_count=len(recipients.problems),
        duplicate_count=recipients.duplicates,
    )
    try:
        campaign.full_clean()
    except Exception as exc:
        raise TelephonyValidationError(getattr(exc, "message_dict", str(exc))) from exc
    check_campaign_flow(flow_slug)
    opted_out_numbers = {str(n) for n in OptOut.objects.values_list("number", flat=True)}
    blocked = _blocked_by_rules(str(phone_number.number))
    skipped = {"opted out (STOP)": 0, "blocked (caller rule)": 0}
    with transaction.atomic():
        campaign.save()
        batch = []
        for number, variables in recipients.rows:
            row = Recipient(broadcast=campaign, number=number, variables=variables)
            reason = (
                "opted out (STOP)"
                if number in opted_out_numbers
                else "blocked (caller rule)"
                if blocked(number)
                else ""
            )
            if reason:
                row.state, row.skip_reason = Recipient.State.SKIPPED, reason
                skipped[reason] += 1
            batch.append(row)
            if len(batch) == BATCH:
                Recipient.objects.bulk_create(batch)
                batch = []
        Recipient.objects.bulk_create(batch)
        if start:
            start_broadcast(broadcast=campaign, at=start_at)
    return Created(
        broadcast=campaign,
        queued=len(recipients.rows) - sum(skipped.values()),
        opted_out=skipped["opted out (STOP)"],
        blocked=skipped["blocked (caller rule)"],
        duplicates=recipients.duplicates,
        problems=recipients.problems,
    )


def record_pressed(*, call_sid: str, pressed: str) -> int:
    """The person a campaign called chose a menu option (the Gather webhook of their call):
    keep the first choice on their recipient row. One UPDATE; 0 rows for any other call."""
    if not call_sid or not pressed:
        return 0
    return Recipient.objects.filter(call__sid=call_sid, pressed="").update(pressed=pressed[:64])


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
    ).select_related("call" if broadcast.is_call else "message")
    count = 0
    for row in stale[:1000]:
        mine = Recipient.objects.filter(pk=row.pk, state=Recipient.State.SENDING, claim=row.claim)
        message = row.call if broadcast.is_call else row.message  # the attempt's log row
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


def call_outcomes(campaign: Broadcast) -> dict:
    """A call campaign's called recipients by outcome (answered, no answer, busy, failed,
    canceled; "calling" until the final status callback) and by the option pressed."""
    called = campaign.recipients.filter(state=Recipient.State.SENT)
    by_status = called.values_list("call__status").annotate(n=Count("pk")).order_by()
    outcomes = {outcome: 0 for outcome in [*CALL_OUTCOMES.values(), "calling"]}
    for status, n in by_status:
        outcomes[CALL_OUTCOMES.get(status, "calling")] += n
    pressed = called.exclude(pressed="").values_list("pressed").annotate(n=Count("pk"))
    return {"outcomes": outcomes, "pressed": dict(pressed.order_by("pressed"))}
