"""Writes driven by Twilio's webhooks: inbound messages and status callbacks (inbound
call rows: telephony/calllog.py).

Twilio retries a webhook when it did not get an answer in time, so every write here is
idempotent on Twilio's SID, and stays correct when two retries race on PostgreSQL: the
unique SID column decides, never a read-then-write in Python.
"""

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import statuses
from .models import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    CallLog,
    Direction,
    MessageLog,
    OptOut,
    SmsRule,
    normalize_keyword,
)
from .services import record_opt_out, remove_opt_out

logger = logging.getLogger(__name__)

DEFAULT_HELP_REPLY = "Reply STOP to stop receiving messages from this number, START to resume."


@dataclass(frozen=True)
class SmsReply:
    body: str = ""
    media_url: str = ""

    def __bool__(self):
        return bool(self.body or self.media_url)


def receive_sms(
    *, sid: str, from_: str, to: str, body: str, media_urls: list[str]
) -> SmsReply | None:
    """Log an inbound message and decide the reply; None when this MessageSid was already
    processed (a retried webhook: no second row, no second reply)."""
    log = MessageLog(
        sid=sid[:34],
        direction=Direction.INBOUND,
        from_number=from_[:128],
        to_number=to[:128],
        body=body,
        media_urls=media_urls,
        status="received",
    )
    log.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            log.save()
    except IntegrityError:  # the unique SID: another request got here first
        logger.info("Inbound message %s already processed; not replying again", sid)
        return None
    reply = _reply_for(from_=from_, to=to, body=body)
    if reply:
        log.reply = reply.body + (f"\n[{reply.media_url}]" if reply.media_url else "")
        log.save(update_fields=["reply", "updated_at"])
    return reply


def _reply_for(*, from_: str, to: str, body: str) -> SmsReply:
    keyword = normalize_keyword(body)
    if keyword in OPT_OUT_KEYWORDS:
        try:
            record_opt_out(number=from_, source=OptOut.Source.KEYWORD, keyword=keyword)
        except ValidationError:  # not a phone number (whatsapp:..., a short code...)
            logger.warning("Opt-out from %r not recorded: not a phone number", from_)
        return SmsReply()  # Twilio (or the carrier) confirms the opt-out itself
    if keyword in OPT_IN_KEYWORDS:
        remove_opt_out(number=from_)
        return SmsReply()  # likewise confirmed by Twilio
    if OptOut.objects.filter(number=from_).exists():
        return SmsReply()  # opted out: no auto-replies (Twilio would refuse them: 21610)
    rules = {rule.keyword: rule for rule in SmsRule.objects.filter(phone_number__number=to)}
    rule = rules.get(keyword)
    if rule is None and keyword in HELP_KEYWORDS:
        return SmsReply(body=DEFAULT_HELP_REPLY)
    rule = rule or rules.get("")
    if rule is None:
        return SmsReply()
    return SmsReply(body=rule.reply, media_url=rule.media_url)


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
    ranks = statuses.CALL_RANKS if model is CallLog else statuses.MESSAGE_RANKS
    blocking = [*statuses.statuses_that_block(ranks, status), status]
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
