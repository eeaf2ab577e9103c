"""Twilio's call and message statuses: their order, and status callbacks applied in it.

Twilio sends status callbacks over separate HTTP requests, which can arrive late, out of
order or twice. Each status gets a rank; a row's status may only be replaced by one of a
higher rank, so a late "sent" never overwrites "delivered", a terminal status is never
replaced by an earlier one, and a duplicate changes nothing.

Sources: https://www.twilio.com/docs/voice/api/call-resource#call-status-values and
https://www.twilio.com/docs/messaging/api/message-resource#message-status-values

`record_status()` applies a callback: idempotent on Twilio's SID, and correct when two
retries race on PostgreSQL (the unique SID column decides, never a read-then-write).
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from telephony.models import CallLog, MessageLog

logger = logging.getLogger(__name__)

# Ours, not Twilio's: recorded before the API is called, replaced by whatever comes next.
PENDING = "pending"
# Ours: the request failed (Twilio refused it or could not be reached).
FAILED = "failed"
# Ours, messages sent by a task (telephony/sending/tasks.py) and a call campaign's calls: a
# worker has claimed the row and is asking Twilio; and Twilio never answered, so it may or
# may not have sent it.
SUBMITTING = "submitting"
UNKNOWN = "unknown"

CALL_RANKS = {
    "": -1,
    PENDING: 0,
    SUBMITTING: 0,
    "queued": 1,
    "initiated": 2,
    "ringing": 3,
    "in-progress": 4,
    # Terminal: a call ends once, so none replaces another.
    "completed": 5,
    "busy": 5,
    "no-answer": 5,
    "canceled": 5,
    "failed": 5,
}

MESSAGE_RANKS = {
    "": -1,
    PENDING: 0,
    SUBMITTING: 0,
    "scheduled": 1,
    "accepted": 2,
    "queued": 3,
    "sending": 4,
    "receiving": 4,
    "sent": 5,
    "partially_delivered": 6,
    # Final delivery outcomes: none replaces another...
    "delivered": 7,
    "undelivered": 7,
    "failed": 7,
    "canceled": 7,
    "received": 7,
    # ...except that a delivered message may later be read (WhatsApp, RCS).
    "read": 8,
}


def earlier_statuses(ranks: dict[str, int], status: str) -> list[str]:
    """The statuses `status` may replace: every known status of a lower rank.

    An unknown status (Twilio adds some now and then) replaces nothing but a blank or
    pending one, so it is recorded but never overwrites real progress.
    """
    rank = ranks.get(status, ranks[PENDING] + 0.5)
    return [known for known, known_rank in ranks.items() if known_rank < rank]


def statuses_that_block(ranks: dict[str, int], status: str) -> list[str]:
    """The known statuses `status` may not replace: those of its rank or higher.

    The complement of `earlier_statuses()` among known statuses; unknown statuses
    already stored are not in it, so real progress always replaces them.
    """
    earlier = set(earlier_statuses(ranks, status))
    return [known for known in ranks if known not in earlier]


def record_status(
    model: type[CallLog] | type[MessageLog],
    *,
    sid: str,
    status: str,
    defaults: dict,
    changes: dict,
) -> None:
    """Apply a status callback: move the row's status forward, never back.

    `changes` (error code, duration...) are written only together with a status that
    moves forward, so a late or duplicate callback changes nothing. An unknown SID
    (a message sent from the Twilio console, a TwiML reply) gets a new row.

    Queries: one UPDATE when the status moves forward; UPDATE then SELECT for a
    duplicate or late one; UPDATE, SELECT, INSERT for an unknown SID.
    """
    ranks = CALL_RANKS if model is CallLog else MESSAGE_RANKS
    blocking = [*statuses_that_block(ranks, status), status]
    update = {"status": status, "updated_at": timezone.now(), **changes}

    def advance() -> int:
        # One conditional UPDATE: atomic in the database, whatever runs concurrently.
        return model.objects.filter(Q(sid=sid) & ~Q(status__in=blocking)).update(**update)

    if advance():
        return
    current = model.objects.filter(sid=sid).values_list("status", flat=True).first()
    if current in blocking:
        # A duplicate or late callback (Twilio retries, and callbacks overtake each other):
        # the row is at or past this status, and statuses only move forward. The common
        # case after the first try: no exception, no savepoint.
        return
    if current is not None:
        advance()  # the row appeared between the two statements, at an earlier status
        return
    row = model(sid=sid, status=status, **defaults, **changes)
    row.full_clean(exclude=["flow", "step"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            row.save()
        logger.info("Status callback for unknown %s %s: recorded", model.__name__, sid)
        return
    except IntegrityError:
        pass
    advance()  # created meanwhile (by the sender or a concurrent callback): try once more
