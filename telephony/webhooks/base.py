"""The base view of every Twilio webhook: what they all share, in one place.

`TwilioWebhookView` is CSRF-exempt and POST-only (405 otherwise), answers 400 to a body
Django cannot parse and 403 to any request whose X-Twilio-Signature is missing or wrong,
and turns any unexpected error into polite TwiML, because Twilio reads an HTTP 500 out
to the caller as "an application error has occurred". Subclasses implement `handle()`.

`StoringWebhookView` is for webhooks whose whole point is to store what Twilio tells us
(inbound messages, status callbacks): when that fails, the answer is a 503, so that
Twilio tries the Fallback URL, and the request is logged for `replay_webhook`.
"""

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from twilio.twiml import TwiML

from telephony.flows import twiml
from telephony.webhooks.replay import log_for_replay
from telephony.webhooks.signatures import has_valid_signature

logger = logging.getLogger("telephony.webhooks")


def twiml_response(document: TwiML | str) -> HttpResponse:
    """A TwiML object, or XML already rendered (and cached, see flows/answers.py)."""
    xml = document if isinstance(document, str) else document.to_xml()
    response = HttpResponse(xml, content_type="text/xml; charset=utf-8")
    # What CommonMiddleware would add, which the webhooks' short stack leaves out
    # (webhooks/handler.py): without a length, gunicorn sends the answer chunked.
    response.headers["Content-Length"] = str(len(response.content))
    return response


class TwilioWebhookView(View):
    http_method_names = ["post"]

    @classmethod
    def as_view(cls, **initkwargs):
        # Exempt once, here: method_decorator on dispatch would re-wrap on every request.
        return csrf_exempt(super().as_view(**initkwargs))

    def post(self, request, *args, **kwargs):
        if request.content_type == "multipart/form-data":
            # Twilio never uploads files; nor is anyone unsigned to make us store any.
            return HttpResponseBadRequest(
                "Twilio's webhooks are form-encoded.", content_type="text/plain"
            )
        try:
            request.POST  # noqa: B018  (Django parses the form body here, once)
        except (BadRequest, SuspiciousOperation) as exc:  # not a body Twilio would send
            # Answered here, not by Django's handler: its DEBUG page would read the body
            # again and turn the 400 into a 500.
            return HttpResponseBadRequest(str(exc), content_type="text/plain")
        if settings.TELEPHONY_VALIDATE_SIGNATURES and not has_valid_signature(request):
            logger.warning("Rejected %s: missing or invalid X-Twilio-Signature", request.path)
            return HttpResponseForbidden(
                "Invalid or missing X-Twilio-Signature.", content_type="text/plain"
            )
        try:
            return self.annotate(request, twiml_response(self.handle(request, *args, **kwargs)))
        except Exception as exc:
            return self.failed(request, exc)

    def handle(self, request, *args, **kwargs) -> TwiML | str:
        raise NotImplementedError

    def annotate(self, request, response: HttpResponse) -> HttpResponse:
        """The answer, with any header a subclass adds (the voice webhooks' notes to the
        simulator)."""
        return response

    def failed(self, request, exc: Exception) -> HttpResponse:
        logger.exception("Webhook %s failed; answering with safe TwiML", request.path)
        return twiml_response(self.error_twiml())

    def error_twiml(self) -> TwiML | str:
        return twiml.goodbye(twiml.TECHNICAL_PROBLEM)


class StoringWebhookView(TwilioWebhookView):
    """A webhook that must store what it was told, or have Twilio try again elsewhere."""

    def failed(self, request, exc: Exception) -> HttpResponse:
        logger.error("Webhook %s could not be stored", request.path, exc_info=exc)
        log_for_replay(request, " ".join(f"{type(exc).__name__}: {exc}".split()))
        return HttpResponse("Not stored; logged for replay.", status=503, content_type="text/plain")
