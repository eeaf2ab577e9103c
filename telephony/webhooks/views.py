"""Twilio's webhooks. One base view owns what every webhook shares.

`TwilioWebhookView` is CSRF-exempt and POST-only (405 otherwise), answers 403 to any
request whose X-Twilio-Signature is missing or wrong, and turns any unexpected error
into polite TwiML, because Twilio reads an HTTP 500 out to the caller as "an
application error has occurred". Subclasses implement `handle()` and return TwiML.
"""

import logging
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation, ValidationError
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from telephony.exceptions import TelephonyError
from telephony.flows import answers as documents
from telephony.flows import menus as routing
from telephony.flows import twiml
from telephony.flows.loading import LoadedFlow, cached_flow
from telephony.logs import calls as calllog
from telephony.logs import statuses
from telephony.messaging import inbound
from telephony.models import CallLog, Direction, MessageLog
from telephony.sending import services
from telephony.webhooks import formdata
from telephony.webhooks.formdata import field
from telephony.webhooks.signatures import has_valid_signature, is_simulation

logger = logging.getLogger(__name__)


def twiml_response(document: TwiML | str) -> HttpResponse:
    """A TwiML object, or XML already rendered (and cached, see `documents`)."""
    # charset given, not only in the content type: else HttpResponse parses it back out of
    # the content type (a regular expression) each time it encodes the body.
    return HttpResponse(
        documents.as_xml(document), content_type="text/xml; charset=utf-8", charset="utf-8"
    )


class TwilioWebhookView(View):
    http_method_names = ["post"]

    @classmethod
    def as_view(cls, **initkwargs):
        # Exempt once, here: method_decorator on dispatch would re-wrap on every request.
        return csrf_exempt(super().as_view(**initkwargs))

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        # What CommonMiddleware would add, which this stack leaves out (telephony/wsgi.py):
        # without a length, gunicorn sends the answer chunked, one more write per webhook.
        response.headers["Content-Length"] = str(len(response.content))
        return response

    def post(self, request, *args, **kwargs):
        try:
            formdata.load_form(request)
        except BadRequest as exc:  # not a body Twilio would send
            return HttpResponseBadRequest(str(exc), content_type="text/plain")
        if settings.TELEPHONY_VALIDATE_SIGNATURES and not has_valid_signature(request):
            logger.warning(
                "Rejected %s: missing or invalid X-Twilio-Signature", request.get_full_path()
            )
            return HttpResponseForbidden(
                "Invalid or missing X-Twilio-Signature.", content_type="text/plain"
            )
        try:
            document = self.handle(request, *args, **kwargs)
        except SuspiciousOperation:
            raise  # oversized or malformed bodies: Django answers 400
        except Exception:
            logger.exception("Webhook %s failed; answering with safe TwiML", request.path)
            document = self.error_twiml()
        return twiml_response(document)

    def handle(self, request, *args, **kwargs) -> TwiML:
        raise NotImplementedError

    def error_twiml(self) -> TwiML:
        return twiml.goodbye(twiml.TECHNICAL_PROBLEM)


@lru_cache(maxsize=4096)  # Twilio sends our few numbers over and over; parsing costs
def _e164(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class VoiceWebhook(TwilioWebhookView):
    """A call came in: the `To` number picks the flow that answers."""

    def handle(self, request):
        answer = documents.voice_answer(_e164(field(request.POST, "To")))
        log_inbound_call(request, answer.flow_id)  # queued: written in batches (calllog.py)
        if answer.flow_slug:
            request.telephony_flow = answer.flow_slug  # for the webhook log line
        return answer.xml


class FlowWebhook(TwilioWebhookView):
    """Run a flow by slug: Redirects, outbound calls' `url`."""

    def handle(self, request, slug):
        loaded = cached_flow(slug)
        if loaded is None:
            return twiml.goodbye(twiml.UNAVAILABLE)
        return documents.flow_twiml(loaded)


class StepOutcomeView(TwilioWebhookView):
    """Base for the internal URLs a step hands Twilio (Gather/Dial/Record/Enqueue actions)."""

    def handle(self, request, slug, step_pk):
        loaded = cached_flow(slug)
        step = loaded.step(step_pk) if loaded else None
        if step is None or not loaded.flow.is_active:  # edited or deleted mid-call
            return twiml.goodbye(twiml.UNAVAILABLE)
        return self.outcome(request, loaded, step)

    def outcome(self, request, loaded: LoadedFlow, step) -> TwiML:
        raise NotImplementedError

    @staticmethod
    def go_to(flow) -> VoiceResponse:
        """Render another flow; a missing or inactive target ends the call politely."""
        loaded = cached_flow(flow.slug) if flow is not None else None
        if loaded is None or not loaded.flow.is_active:
            return twiml.goodbye(twiml.UNAVAILABLE)
        return documents.flow_twiml(loaded)

    @staticmethod
    def continue_after(loaded: LoadedFlow, step) -> VoiceResponse:
        return twiml.render_steps(VoiceResponse(), loaded, loaded.steps_after(step))


class GatherWebhook(StepOutcomeView):
    def handle(self, request, slug, step_pk):
        digits = field(request.POST, "Digits").strip()
        if field(request.POST, "SpeechResult").strip():
            return super().handle(request, slug, step_pk)  # free text: routed every time
        # Keys alone: the answer depends only on stored data, so each worker renders it
        # once per (flow, step, keys) until staff next save - like the flows themselves.
        return documents.rendered(
            ("gather", slug, step_pk, digits),
            lambda: super(GatherWebhook, self).handle(request, slug, step_pk),
        )

    def outcome(self, request, loaded, step):
        digits = request.POST.get("Digits", "")
        speech = request.POST.get("SpeechResult", "")
        if not digits.strip() and not speech.strip():
            # Nothing entered: carry on after the Gather, as Twilio itself would.
            return self.continue_after(loaded, step)
        option = routing.match_option(loaded.options, digits=digits, speech=speech)
        if option is None:
            response = VoiceResponse()
            response.say(twiml.INVALID_OPTION)
            return twiml.render_steps(response, loaded, (step, *loaded.steps_after(step)))
        return self.go_to(option.target_flow)


class DialOutcomeWebhook(StepOutcomeView):
    def outcome(self, request, loaded, step):
        if request.POST.get("DialCallStatus") == "completed":
            if step.answered_flow is None:
                response = VoiceResponse()
                response.hangup()
                return response
            return self.go_to(step.answered_flow)
        # busy, no-answer, failed, canceled
        if step.next_flow is None:
            return self.continue_after(loaded, step)
        return self.go_to(step.next_flow)


class RecordOutcomeWebhook(StepOutcomeView):
    def outcome(self, request, loaded, step):
        if step.next_flow is None:
            return self.continue_after(loaded, step)
        return self.go_to(step.next_flow)


class EnqueueOutcomeWebhook(StepOutcomeView):
    LEFT_UNANSWERED = {"redirected", "queue-full", "error", "system-error", "leave"}

    def outcome(self, request, loaded, step):
        if request.POST.get("QueueResult") in self.LEFT_UNANSWERED and step.next_flow:
            return self.go_to(step.next_flow)
        response = VoiceResponse()
        response.hangup()
        return response


class WaitMusicWebhook(StepOutcomeView):
    def outcome(self, request, loaded, step):
        return twiml.render_wait_music(step)


class FallbackWebhook(TwilioWebhookView):
    """Twilio's fallback URL: the primary failed. Always safe TwiML, never an error."""

    def handle(self, request):
        logger.error(
            "Twilio fallback: %s at %s (call %s)",
            request.POST.get("ErrorCode", "?"),
            request.POST.get("ErrorUrl", "?"),
            request.POST.get("CallSid", request.POST.get("MessageSid", "?")),
        )
        if "MessageSid" in request.POST or "SmsSid" in request.POST:
            return MessagingResponse()
        return twiml.goodbye(twiml.TECHNICAL_PROBLEM)


# --- calls and messages logs, inbound SMS, status callbacks, Sms steps ---------------------


def log_inbound_call(request, flow_id: int | None) -> None:
    post = request.POST
    if is_simulation(request):  # a simulated call is not a call
        return
    try:
        calllog.record_inbound_call(
            sid=field(post, "CallSid"),
            from_=field(post, "From"),
            to=field(post, "To"),
            status=field(post, "CallStatus"),
            flow_id=flow_id,
        )
    except Exception:  # a log row is never worth a caller's call: answer anyway
        logger.exception("Could not log inbound call %s", field(post, "CallSid") or "?")


class SmsStepWebhook(StepOutcomeView):
    """The call reached a Sms step: text the caller, then run the steps after it.

    The caller is `From` on an inbound call and `To` on an outbound one (`Direction`).
    A message that cannot be sent (opted out, no SMS-capable number, Twilio refused) is
    logged and the caller told so; the call goes on either way.
    """

    NOT_SENT = "Sorry, we could not send you a text message."

    def outcome(self, request, loaded, step):
        post = request.POST
        outbound = post.get("Direction", "inbound").startswith("outbound")
        caller, ours = (post.get("To", ""), post.get("From", ""))
        if not outbound:
            caller, ours = ours, caller
        response = VoiceResponse()
        if step.verb != step.Verb.SMS:  # edited mid-call: carry on without texting
            return twiml.render_steps(response, loaded, loaded.steps_after(step))
        if is_simulation(request):
            logger.info("Simulated call: Sms step %s of %s not sent", step.pk, loaded.slug)
            return twiml.render_steps(response, loaded, loaded.steps_after(step))
        try:
            # Records and queues the text; a task worker sends it (telephony/sending/tasks.py).
            services.queue_step_sms(
                step=step,
                call_sid=post.get("CallSid", ""),
                caller=caller,
                our_number=_e164(ours) or "",
            )
        except (TelephonyError, ValidationError) as exc:
            logger.warning(
                "Sms step %s of %s not sent to %s: %s", step.pk, loaded.slug, caller, exc
            )
            response.say(self.NOT_SENT)
        return twiml.render_steps(response, loaded, loaded.steps_after(step))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


class SmsWebhook(TwilioWebhookView):
    """A message came in: log it once per MessageSid and answer with the number's rule."""

    def handle(self, request):
        post = request.POST
        sid = post.get("MessageSid") or post.get("SmsSid") or ""
        if not sid:
            return MessagingResponse()
        count = min(_int_or_none(post.get("NumMedia")) or 0, 10)  # Twilio sends at most 10
        media = [post[f"MediaUrl{i}"] for i in range(count) if post.get(f"MediaUrl{i}")]
        sender, receiver = post.get("From", ""), post.get("To", "")
        reply = inbound.receive_sms(
            sid=sid,
            from_=_e164(sender) or sender,
            to=_e164(receiver) or receiver,
            body=post.get("Body", ""),
            media_urls=media,
        )
        response = MessagingResponse()
        if reply:
            message = response.message(twiml.xml_safe(reply.body) if reply.body else None)
            if reply.media_url:
                message.media(twiml.xml_safe(reply.media_url))
        return response

    def error_twiml(self):
        return MessagingResponse()  # no reply rather than a wrong one


class StatusWebhook(TwilioWebhookView):
    """Call and message status callbacks: statuses only move forward (see statuses.py)."""

    def handle(self, request):
        post = request.POST
        changes = {}
        if post.get("ErrorCode"):
            changes["error_code"] = _int_or_none(post.get("ErrorCode"))
            changes["error_message"] = post.get("ErrorMessage", "")
        defaults = {
            "from_number": post.get("From", "")[:128],
            "to_number": post.get("To", "")[:128],
        }
        message_sid = post.get("MessageSid") or post.get("SmsSid")
        if message_sid:
            status = post.get("MessageStatus") or post.get("SmsStatus") or ""
            model = MessageLog
            # Status callbacks only ever come for messages we (or the console) sent.
            defaults["direction"] = Direction.OUTBOUND
            sid = message_sid
        elif post.get("CallSid"):
            status = post.get("CallStatus", "")
            model = CallLog
            inbound_call = post.get("Direction", "") == "inbound"
            defaults["direction"] = Direction.INBOUND if inbound_call else Direction.OUTBOUND
            if post.get("CallDuration"):
                changes["duration"] = _int_or_none(post.get("CallDuration"))
            sid = post["CallSid"]
        else:
            return MessagingResponse()
        if status:
            statuses.record_status(
                model, sid=sid[:34], status=status[:20], defaults=defaults, changes=changes
            )
        return MessagingResponse()

    def error_twiml(self):
        return MessagingResponse()
