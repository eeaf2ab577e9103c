"""Our errors: one root, each also the Django exception it behaves like."""

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation, ValidationError


class TelephonyError(Exception):
    """Root of every error Switchboard raises on purpose."""


class TelephonyConfigurationError(TelephonyError, ImproperlyConfigured):
    """A setting is missing or wrong (credentials, backend path, public URL)."""


class TelephonyValidationError(TelephonyError, ValidationError):
    """Input that cannot be sent or stored as given (bad number, body too long...)."""


class InvalidSignature(TelephonyError, SuspiciousOperation):
    """A webhook request whose X-Twilio-Signature does not match (answered with 403)."""
