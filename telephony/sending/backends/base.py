"""What every sending backend offers, and the plain records they exchange with services.

Like `django.core.mail.backends`: `services` builds an `OutboundSms`/`OutboundCall`, the
backend named by TELEPHONY_BACKEND delivers it and answers with a `Sent` (Twilio's SID
and status) or raises a `telephony.exceptions.TelephonySendError`. Backends never touch
the database; recording attempts and outcomes is the services' job.
"""

from dataclasses import dataclass, field

from telephony.exceptions import TelephonyConfigurationError


@dataclass(frozen=True)
class OutboundSms:
    to: str
    from_: str
    body: str
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    # Sent through a Messaging Service (MG...) instead of from a number: from_ is then "".
    messaging_service_sid: str = ""


@dataclass(frozen=True)
class OutboundCall:
    to: str
    from_: str
    url: str
    status_callback: str | None = None


@dataclass(frozen=True)
class Sent:
    """Twilio's answer to a create request."""

    sid: str
    status: str


@dataclass(frozen=True)
class AccountNumber:
    """A number of the Twilio account: an IncomingPhoneNumber or an OutgoingCallerId."""

    sid: str
    number: str
    friendly_name: str = ""
    capabilities: dict = field(default_factory=dict)  # {"voice": bool, "sms": bool, "mms": bool}


@dataclass(frozen=True)
class NumberWebhooks:
    """Where Twilio should send a number's calls, messages and status callbacks."""

    voice_url: str
    voice_fallback_url: str
    sms_url: str
    sms_fallback_url: str
    status_callback: str


class BaseTelephonyBackend:
    """Subclasses implement what they can; the rest says clearly that it cannot."""

    name = "base"

    def __init__(self, **options):
        self.options = options

    def send_sms(self, message: OutboundSms) -> Sent:
        raise NotImplementedError

    def make_call(self, call: OutboundCall) -> Sent:
        raise NotImplementedError

    def incoming_numbers(self) -> list[AccountNumber]:
        raise self._no_account()

    def outgoing_caller_ids(self) -> list[AccountNumber]:
        raise self._no_account()

    def configure_number(self, sid: str, webhooks: NumberWebhooks) -> None:
        raise self._no_account()

    def delete_recording(self, sid: str) -> None:
        """Delete the Recording `sid` at Twilio; one already gone counts as deleted."""
        raise self._no_account()

    def _no_account(self) -> TelephonyConfigurationError:
        return TelephonyConfigurationError(
            f"The {self.name} backend has no Twilio account to read or configure. Set "
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TELEPHONY_BACKEND=twilio)."
        )
