"""Call and message status callbacks: statuses only move forward (logs/statuses.py).

A callback that cannot be stored gets a 503 (Twilio then tries the Fallback URL) and is
logged for replay (webhooks/base.py).
"""

from twilio.twiml.messaging_response import MessagingResponse

from telephony.broadcasts import queue_full
from telephony.flows import journey
from telephony.logs import statuses
from telephony.models import CallLog, Direction, MessageLog
from telephony.webhooks.base import StoringWebhookView
from telephony.webhooks.journey import record_journey
from telephony.webhooks.params import param

# A call's final statuses: its journey ends (logs/events.py says who hung up).
CALL_ENDED = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})

MAX_INT = 2**31 - 1  # PositiveIntegerField's range on every database


def _int_or_none(value: str) -> int | None:
    """A whole number that fits its column, or None for anything else."""
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        return None
    number = int(value)
    return number if number <= MAX_INT else None


class StatusWebhook(StoringWebhookView):
    def handle(self, request):
        changes = {}
        if error_code := param(request, "ErrorCode"):
            changes["error_code"] = _int_or_none(error_code)
            changes["error_message"] = param(request, "ErrorMessage", 2000)
        defaults = {
            "from_number": param(request, "From", 128),
            "to_number": param(request, "To", 128),
        }
        message_sid = param(request, "MessageSid", 34) or param(request, "SmsSid", 34)
        if message_sid:
            model, sid = MessageLog, message_sid
            status = param(request, "MessageStatus", 20) or param(request, "SmsStatus", 20)
            # Status callbacks only ever come for messages we (or the console) sent.
            defaults["direction"] = Direction.OUTBOUND
        elif call_sid := param(request, "CallSid", 34):
            model, sid = CallLog, call_sid
            status = param(request, "CallStatus", 20)
            inbound_call = request.POST.get("Direction") == "inbound"
            defaults["direction"] = Direction.INBOUND if inbound_call else Direction.OUTBOUND
            if duration := param(request, "CallDuration"):
                changes["duration"] = _int_or_none(duration)
        else:
            return MessagingResponse()
        if status:
            statuses.record_status(
                model, sid=sid, status=status, defaults=defaults, changes=changes
            )
            if model is MessageLog and changes.get("error_code") == queue_full.QUEUE_OVERFLOW:
                queue_full.message_status(sid=sid, error_code=changes["error_code"])
            if model is CallLog and status in CALL_ENDED:
                ended = journey.call_ended(status, changes.get("duration"))
                record_journey(request, (ended,))
        return MessagingResponse()
