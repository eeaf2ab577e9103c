"""A webhook adds what its answer does to the journey of its call (logs/events.py)."""

import logging

from telephony.logs import events
from telephony.text import printable
from telephony.webhooks.params import param
from telephony.webhooks.signatures import is_simulation

logger = logging.getLogger(__name__)


def record_journey(request, happened, release: str = "") -> None:
    """Add `happened` (events) to the journey of the request's call (its CallSid).

    A simulated call is not a call. An event is never worth a caller's call: with
    immediate writes a database failure is logged, and the webhook answers anyway."""
    if not happened or is_simulation(request):
        return
    try:
        events.record(param(request, "CallSid", 34), happened, release=release)
    except Exception:
        logger.exception(
            "Could not record the events of call %s", printable(param(request, "CallSid"), 34)
        )
