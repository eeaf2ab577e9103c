"""When Twilio says a sender's queue is full, the sender slows down.

Twilio queues what a sender sends faster than its rate (a long code: about one segment a
second) and, when the queue holds too much or for too long, refuses new messages (21611,
on sending: sending.py puts the recipient back) or drops queued ones: those come back as
30001 "Queue overflow" in their status callback (POST /twilio/status/), minutes later.
For either, every worker's pace for that sender halves for a while (pace.slow_down);
for 30001, the broadcast's recipient is failed with the code and what it means (Twilio
did not deliver it; it is not resent blindly: staff see it in the failures export).
"""

import logging

from telephony.models import BroadcastRecipient
from telephony.sending import pace

logger = logging.getLogger(__name__)

QUEUE_OVERFLOW = 30001
QUEUE_FULL_CODES = {21611, QUEUE_OVERFLOW}
HOLD_SECONDS = 10.0  # how long nobody sends from the sender after a report
MEANINGS = {
    21611: "Twilio refused it: this sender already has too many messages queued "
    "(error 21611). It is tried again, more slowly.",
    QUEUE_OVERFLOW: "Not delivered: Twilio queued it for longer than it keeps messages "
    "because they were sent faster than this sender can send (error 30001, queue "
    "overflow). This broadcast now sends at half speed for a while.",
}


def message_status(*, sid: str, error_code: int | None) -> int:
    """A status callback with `error_code` came for message `sid`: for 30001, slow the
    sender of the broadcast that sent it down and fail its recipient. Returns the number
    of recipients failed (0 for any other code, or a message no broadcast sent)."""
    if error_code != QUEUE_OVERFLOW:
        return 0
    rows = BroadcastRecipient.objects.filter(message__sid=sid).select_related(
        "broadcast__phone_number"
    )
    failed = 0
    for row in rows:
        pace.slow_down(row.broadcast.sender, hold=HOLD_SECONDS)
        logger.warning(
            "Broadcast %s: message to %s dropped by Twilio (30001, queue overflow); %s slowed down",
            row.broadcast_id,
            row.number,
            row.broadcast.sender,
        )
        failed += BroadcastRecipient.objects.filter(
            pk=row.pk, state__in=[BroadcastRecipient.State.SENDING, BroadcastRecipient.State.SENT]
        ).update(
            state=BroadcastRecipient.State.FAILED,
            error_code=QUEUE_OVERFLOW,
            error_message=MEANINGS[QUEUE_OVERFLOW],
        )
    return failed
