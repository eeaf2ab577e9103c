"""Twilio's Fallback URL: the primary webhook failed. Always safe TwiML, never an error."""

import logging

from twilio.twiml.messaging_response import MessagingResponse

from telephony.flows import answers, twiml
from telephony.text import printable
from telephony.webhooks.base import TwilioWebhookView

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
            return MessagingResponse()
        return answers.goodbye_twiml(twiml.TECHNICAL_PROBLEM)
