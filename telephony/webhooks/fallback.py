"""Twilio's Fallback URL: the primary webhook failed. Always safe TwiML, never an error.

An inbound message reaches this URL with all its fields when the primary URL failed or
timed out: it gets a second chance to be stored here (once per MessageSid, as there), and
when that fails too it is logged for `replay_webhook` as a request to /twilio/sms/, so a
STOP is never lost. A call gets a polite goodbye.
"""

import logging

from django.urls import reverse
from twilio.twiml.messaging_response import MessagingResponse

from telephony.flows import answers, twiml
from telephony.text import printable
from telephony.webhooks.base import TwilioWebhookView
from telephony.webhooks.messaging import SmsWebhook
from telephony.webhooks.replay import log_for_replay

logger = logging.getLogger(__name__)


class FallbackWebhook(TwilioWebhookView):
    def handle(self, request):
        logger.error(
            "Twilio fallback: %s at %s (%s)",
            printable(request.POST.get("ErrorCode", "?"), 10),
            printable(request.POST.get("ErrorUrl", "?"), 500),
            printable(request.POST.get("CallSid") or request.POST.get("MessageSid", "?"), 34),
        )
        if "MessageSid" in request.POST or "SmsSid" in request.POST:
            try:
                return SmsWebhook().handle(request)
            except Exception as exc:  # the last chance: answer anyway, and keep the request
                logger.exception("Fallback could not store message either")
                log_for_replay(request, type(exc).__name__, path=reverse("telephony:sms"))
                return MessagingResponse()
        return answers.goodbye_twiml(twiml.TECHNICAL_PROBLEM)
