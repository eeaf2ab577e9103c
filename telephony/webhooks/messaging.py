"""The inbound SMS webhook: log the message once per MessageSid, answer with the number's
rule in the texter's release (the live one; the draft for a test caller).

The message (and an opt-out or opt-in it carries) is stored before we answer; when it
cannot be, Twilio gets a 503 and the request is logged for replay (webhooks/base.py), so
a STOP is never lost.
"""

from twilio.twiml.messaging_response import MessagingResponse

from telephony.flows import twiml
from telephony.flows.loading import caller_rule, release_for_caller, snapshot
from telephony.messaging import inbound
from telephony.phone_numbers import e164
from telephony.webhooks.base import StoringWebhookView
from telephony.webhooks.params import param

MAX_MEDIA = 10  # Twilio sends at most 10 media per message


def _int_or_zero(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


class SmsWebhook(StoringWebhookView):
    """A message came in: answered by the rules of the live release (of the draft, for a
    test caller)."""

    def release(self, request, **kwargs) -> str:
        return release_for_caller(request.POST.get("From", ""), try_anyway=True)

    def handle(self, request, **kwargs):
        sid = param(request, "MessageSid", 34) or param(request, "SmsSid", 34)
        if not sid:
            return MessagingResponse()
        count = min(max(_int_or_zero(request.POST.get("NumMedia", "")), 0), MAX_MEDIA)
        media = [url for i in range(count) if (url := param(request, f"MediaUrl{i}"))]
        sender, receiver = param(request, "From"), param(request, "To")
        to = e164(receiver) or receiver
        release = self.release(request, **kwargs)
        loaded_release = snapshot(release, try_anyway=True) if release else None
        from_ = e164(sender) or sender
        blocked = caller_rule(release, to=to, caller=from_, sms=True, try_anyway=True)
        reply = inbound.receive_sms(
            sid=sid,
            from_=from_,
            to=to,
            body=param(request, "Body"),
            media_urls=media,
            rules=loaded_release.rules_for(to) if loaded_release else {},
            blocked=blocked is not None,
        )
        response = MessagingResponse()
        if reply:
            message = response.message(twiml.xml_safe(reply.body) if reply.body else None)
            if reply.media_url:
                message.media(twiml.xml_safe(reply.media_url))
        return response


class ReleaseSmsWebhook(SmsWebhook):
    """A message answered as a given release would (the simulator's texts)."""

    def release(self, request, release):
        return release
