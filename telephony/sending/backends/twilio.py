"""The real thing: Twilio's REST API through the official `twilio` client.

Retries: HTTP 429 and 5xx, and connections that never reached Twilio, are retried with
exponential backoff and jitter, bounded both in attempts (TELEPHONY_RETRY_ATTEMPTS) and
in total time (TELEPHONY_RETRY_MAX_SECONDS). Other 4xx answers are never retried: Twilio
has read the request and said no, and asking again changes nothing.

A request that timed out after reaching Twilio is retried only when it is a read (list
numbers): a create that timed out may have sent the message or placed the call, and
sending it twice is worse than reporting "outcome unknown" (TwilioTimeout).

Twilio's error codes become our exceptions (telephony.exceptions), each saying what to
fix and chained to twilio's TwilioRestException.
"""

import json
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from telephony import exceptions
from telephony.sending.backends.base import (
    AccountNumber,
    BaseTelephonyBackend,
    NumberWebhooks,
    OutboundCall,
    OutboundSms,
    Sent,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Twilio error code -> (our exception, what it means and what to fix).
ERRORS: dict[int, tuple[type[exceptions.TelephonySendError], str]] = {
    20003: (
        exceptions.TwilioAuthenticationError,
        "Twilio rejected our credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
    ),
    21211: (
        exceptions.InvalidRecipient,
        "The To number is not a valid phone number: check it (E.164, e.g. +14155550100).",
    ),
    21212: (
        exceptions.SenderNotAllowed,
        "The From number is not a valid number of this Twilio account: send from one of "
        "your Twilio numbers (see sync_twilio_numbers) or, for calls, a verified caller ID.",
    ),
    21606: (
        exceptions.SenderNotAllowed,
        "The From number cannot send SMS to this recipient: choose an SMS-capable number "
        "of this account.",
    ),
    21601: (
        exceptions.CallerIdCannotSendSms,
        "The From number is not an SMS-capable Twilio number (verified caller IDs can "
        "only make calls): send from one of your Twilio numbers.",
    ),
    21608: (
        exceptions.UnverifiedRecipient,
        "This is a trial account, which can only send to verified numbers: verify the "
        "recipient in the Twilio console, or upgrade the account.",
    ),
    21610: (
        exceptions.RecipientOptedOut,
        "The recipient has opted out (replied STOP) and must reply START before they can "
        "be texted again.",
    ),
    21614: (
        exceptions.CannotReceiveSms,
        "The To number cannot receive SMS (probably a landline): text a mobile number.",
    ),
}


def translate(exc: TwilioRestException) -> exceptions.TelephonySendError:
    """Our exception for a Twilio error answer (not yet raised; the caller chains it)."""
    detail = str(exc.msg or "").removeprefix("Unable to create record: ")
    detail = detail.removeprefix("Unable to update record: ").removeprefix("Unable to fetch page: ")
    code = exc.code if isinstance(exc.code, int) and exc.code != exc.status else None
    error_class, explanation = ERRORS.get(code, (exceptions.TelephonySendError, None))
    if explanation is None:
        explanation = f"Twilio refused the request (HTTP {exc.status})."
    suffix = f" [Twilio error {code}: {detail}]" if code else f" [{detail}]" if detail else ""
    return error_class(explanation + suffix, code=code, status=exc.status)


def _as_rest_exception(exc: TwilioException) -> TwilioRestException | None:
    """twilio raises TwilioRestException for most errors, but a plain TwilioException
    ("Unable to fetch page", response) when a list page fails; read that response too."""
    if isinstance(exc, TwilioRestException):
        return exc
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if status is None:
        return None
    try:
        payload = json.loads(response.text)
    except (TypeError, ValueError):
        payload = {}
    message = f"{exc.args[0]}: {payload['message']}" if "message" in payload else exc.args[0]
    return TwilioRestException(status, "", message, payload.get("code", status), "GET")


def _is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _never_reached_twilio(exc: requests.ConnectionError) -> bool:
    """True when the connection itself failed, so Twilio cannot have seen the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class TelephonyBackend(BaseTelephonyBackend):
    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        api_url: str | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        base_delay: float | None = None,
        max_delay: float | None = None,
        max_seconds: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **options,
    ):
        super().__init__(**options)
        account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        if not account_sid or not auth_token:
            raise exceptions.TelephonyConfigurationError(
                "The twilio backend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN; set both, "
                "or use TELEPHONY_BACKEND=console to print messages instead of sending them."
            )

        def setting(name, value, default):
            return value if value is not None else getattr(settings, name, default)

        self.timeout = float(setting("TELEPHONY_TWILIO_TIMEOUT", timeout, 10.0))
        self.max_attempts = max(1, int(setting("TELEPHONY_RETRY_ATTEMPTS", max_attempts, 4)))
        self.base_delay = float(setting("TELEPHONY_RETRY_BASE_DELAY", base_delay, 0.5))
        self.max_delay = float(setting("TELEPHONY_RETRY_MAX_DELAY", max_delay, 8.0))
        self.max_seconds = float(setting("TELEPHONY_RETRY_MAX_SECONDS", max_seconds, 20.0))
        self.sleep = sleep
        self.client = Client(
            account_sid,
            auth_token,
            http_client=TwilioHttpClient(timeout=self.timeout),
        )
        api_url = (api_url or getattr(settings, "TWILIO_API_BASE_URL", "") or "").strip()
        if api_url:  # tests (a local fake Twilio) or an API proxy
            self.client.api.base_url = api_url.rstrip("/")

    # --- retries ---------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based): exponential, capped,
        with "equal jitter" (half fixed, half random) so workers do not retry in step."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _call(self, label: str, request: Callable[[], T], *, idempotent: bool) -> T:
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return request()
            except TwilioException as raw:
                exc = _as_rest_exception(raw)
                if exc is None:
                    raise exceptions.TelephonySendError(f"Twilio client error: {raw}") from raw
                if not _is_retryable_status(exc.status):
                    raise translate(exc) from raw
                failure, reason = exc, f"HTTP {exc.status}"
            except requests.ConnectionError as exc:
                if not idempotent and not _never_reached_twilio(exc):
                    raise self._unknown_outcome(label, exc) from exc
                failure, reason = exc, "could not connect"
            except requests.Timeout as exc:  # read timeout: Twilio may have acted on it
                if not idempotent:
                    raise self._unknown_outcome(label, exc) from exc
                failure, reason = exc, f"no answer within {self.timeout:g}s"
            delay = self.backoff(attempt)
            out_of_time = time.monotonic() - started + delay > self.max_seconds
            if attempt >= self.max_attempts or out_of_time:
                break
            logger.warning(
                "Twilio %s: %s (attempt %d of %d); retrying in %.2fs",
                label,
                reason,
                attempt,
                self.max_attempts,
                delay,
            )
            self.sleep(delay)
        logger.error("Twilio %s: %s; giving up after %d attempt(s)", label, reason, attempt)
        status = failure.status if isinstance(failure, TwilioRestException) else None
        code = failure.code if isinstance(failure, TwilioRestException) else None
        raise exceptions.TwilioUnavailable(
            f"Twilio {label} failed after {attempt} attempt(s) ({reason}). Twilio is busy or "
            "unreachable; try again later.",
            code=code if code != status else None,
            status=status,
        ) from failure

    def _unknown_outcome(self, label: str, exc: Exception) -> exceptions.TwilioTimeout:
        logger.error("Twilio %s: no complete answer (%s); not retried", label, exc)
        return exceptions.TwilioTimeout(
            f"Twilio did not answer {label} within {self.timeout:g}s. It may or may not have "
            "gone through: check the Twilio console before trying again."
        )

    # --- the API -----------------------------------------------------------------------

    def send_sms(self, message: OutboundSms) -> Sent:
        created = self._call(
            f"send SMS to {message.to}",
            lambda: self.client.messages.create(
                to=message.to,
                from_=message.from_ or None,
                messaging_service_sid=message.messaging_service_sid or None,
                body=message.body or None,
                media_url=list(message.media_urls) or None,
                status_callback=message.status_callback,
            ),
            idempotent=False,
        )
        return Sent(sid=created.sid, status=created.status or "queued")

    def make_call(self, call: OutboundCall) -> Sent:
        callback = {}
        if call.status_callback:
            callback = {
                "status_callback": call.status_callback,
                "status_callback_method": "POST",
                "status_callback_event": ["initiated", "ringing", "answered", "completed"],
            }
        created = self._call(
            f"call {call.to}",
            lambda: self.client.calls.create(
                to=call.to, from_=call.from_, url=call.url, method="POST", **callback
            ),
            idempotent=False,
        )
        return Sent(sid=created.sid, status=created.status or "queued")

    def incoming_numbers(self) -> list[AccountNumber]:
        numbers = self._call(
            "list IncomingPhoneNumbers",
            lambda: list(self.client.incoming_phone_numbers.list()),
            idempotent=True,
        )
        return [
            AccountNumber(
                sid=n.sid,
                number=n.phone_number,
                friendly_name=n.friendly_name or "",
                capabilities=dict(n.capabilities or {}),
            )
            for n in numbers
        ]

    def outgoing_caller_ids(self) -> list[AccountNumber]:
        caller_ids = self._call(
            "list OutgoingCallerIds",
            lambda: list(self.client.outgoing_caller_ids.list()),
            idempotent=True,
        )
        return [
            AccountNumber(sid=c.sid, number=c.phone_number, friendly_name=c.friendly_name or "")
            for c in caller_ids
        ]

    def configure_number(self, sid: str, webhooks: NumberWebhooks) -> None:
        # Setting the same URLs twice is harmless, so this update may be retried.
        self._call(
            f"update IncomingPhoneNumber {sid}",
            lambda: self.client.incoming_phone_numbers(sid).update(
                voice_url=webhooks.voice_url,
                voice_method="POST",
                voice_fallback_url=webhooks.voice_fallback_url,
                voice_fallback_method="POST",
                sms_url=webhooks.sms_url,
                sms_method="POST",
                sms_fallback_url=webhooks.sms_fallback_url,
                sms_fallback_method="POST",
                status_callback=webhooks.status_callback,
                status_callback_method="POST",
            ),
            idempotent=True,
        )

    def delete_recording(self, sid: str) -> None:
        # Deleting twice is harmless, so it may be retried; a 404 means it is gone already.
        try:
            self._call(
                f"delete Recording {sid}",
                lambda: self.client.recordings(sid).delete(),
                idempotent=True,
            )
        except exceptions.TelephonySendError as exc:
            if exc.status != 404:
                raise
