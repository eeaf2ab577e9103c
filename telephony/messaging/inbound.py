"""An inbound text message: logged once per MessageSid, then answered by the number's rules
(those of the texter's release: the live one, or the draft for a test caller).

Opt-out and opt-in keywords (STOP, START...) are handled for every number before any
rule. Twilio retries a webhook when it did not get an answer in time, so the log row is
keyed by the unique MessageSid: a retry gets no second row and no second reply.
"""

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from telephony.models import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    Direction,
    MessageLog,
    OptOut,
    normalize_keyword,
)
from telephony.sending.services import record_opt_out, remove_opt_out

logger = logging.getLogger(__name__)

DEFAULT_HELP_REPLY = "Reply STOP to stop receiving messages from this number, START to resume."


@dataclass(frozen=True)
class SmsReply:
    body: str = ""
    media_url: str = ""

    def __bool__(self):
        return bool(self.body or self.media_url)


def receive_sms(
    *,
    sid: str,
    from_: str,
    to: str,
    body: str,
    media_urls: list[str],
    rules: dict,
    blocked: bool = False,
) -> SmsReply | None:
    """Log an inbound message and decide the reply; None when this MessageSid was already
    processed (a retried webhook: no second row, no second reply). `rules` are the
    number's SMS rules by keyword, as the texter's release has them (flows/loading.py);
    `blocked`: a caller rule blocks the sender, who gets no auto-reply (the message is
    logged all the same, and STOP and START still count).

    The row, the opt-out or opt-in it carries and the reply are one transaction: either
    all are stored, or none is and the webhook fails (and is logged for replay)."""
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
    with transaction.atomic():
        try:
            with transaction.atomic():
                log.save()
        except IntegrityError:  # the unique SID: another request got here first
            logger.info("Inbound message %s already processed; not replying again", sid)
            return None
        reply = _reply_for(from_=from_, body=body, rules=rules, blocked=blocked)
        if reply:
            log.reply = reply.body + (f"\n[{reply.media_url}]" if reply.media_url else "")
            log.save(update_fields=["reply", "updated_at"])
    return reply


def _reply_for(*, from_: str, body: str, rules: dict, blocked: bool) -> SmsReply:
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
    if blocked:
        logger.info("Message from %s: blocked by a caller rule, no reply", from_[:64])
        return SmsReply()
    if OptOut.objects.filter(number=from_).exists():
        return SmsReply()  # opted out: no auto-replies (Twilio would refuse them: 21610)
    rule = rules.get(keyword)
    if rule is None and keyword in HELP_KEYWORDS:
        return SmsReply(body=DEFAULT_HELP_REPLY)
    rule = rule or rules.get("")
    if rule is None:
        return SmsReply()
    return SmsReply(body=rule.reply, media_url=rule.media_url)
