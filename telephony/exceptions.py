"""Our errors: one root, each also the Django exception it behaves like."""

from django.core.exceptions import ImproperlyConfigured, ValidationError


class TelephonyError(Exception):
    """Root of every error Switchboard raises on purpose."""


class TelephonyConfigurationError(TelephonyError, ImproperlyConfigured):
    """A setting is missing or wrong (credentials, backend path, public URL)."""


class TelephonyValidationError(TelephonyError, ValidationError):
    """Input that cannot be sent or stored as given (bad number, body too long...)."""


# --- Sending (services.send_sms / make_call and the backends) -------------------------


class TelephonySendError(TelephonyError):
    """Twilio refused a request, or could not be reached. `code` is Twilio's error code
    (https://www.twilio.com/docs/errors/<code>) when Twilio gave one."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class InvalidRecipient(TelephonySendError):
    """21211: the To number is not a valid phone number."""


class SenderNotAllowed(TelephonySendError):
    """21212 / 21606: the From number is not ours, or cannot send SMS."""


class CallerIdCannotSendSms(SenderNotAllowed):
    """21601: a verified caller ID (or a voice-only number) cannot send SMS."""


class UnverifiedRecipient(TelephonySendError):
    """21608: a trial account may only send to verified numbers."""


class RecipientOptedOut(TelephonySendError):
    """21610, or our own OptOut table: the recipient replied STOP."""


class CannotReceiveSms(TelephonySendError):
    """21614: the To number cannot receive SMS (a landline, say)."""


class TwilioAuthenticationError(TelephonySendError, ImproperlyConfigured):
    """20003: Twilio refused our credentials."""


class TwilioUnavailable(TelephonySendError):
    """Twilio kept answering 429/5xx, or could not be reached, until retries ran out."""


class TwilioTimeout(TwilioUnavailable):
    """Twilio did not answer in time; a create request may or may not have taken effect."""


class DatabaseUnavailable(TelephonyError):
    """The database is unreachable and what a webhook needs is not in this worker's memory."""


# --- Releases (telephony/releases) ----------------------------------------------------


class PublishError(TelephonyValidationError):
    """The draft cannot be published (or a release made live) as asked."""


class PublishBlocked(PublishError):
    """The flow checks report errors: `findings` lists them (warnings included)."""

    def __init__(self, message: str, *, findings=()):
        super().__init__(message)
        self.findings = list(findings)


class NothingToPublish(PublishError):
    """The draft is the live release already."""


class PublishConflict(PublishError):
    """Someone else published meanwhile: review the changes again."""
