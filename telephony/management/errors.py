"""Our errors as the one-line CommandError a management command ends with."""

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import CommandError

from telephony.exceptions import TelephonyError

# What a sending command may raise on purpose; anything else is a bug and keeps its traceback.
EXPECTED = (TelephonyError, ValidationError, ImproperlyConfigured)


def command_error(exc: Exception) -> CommandError:
    text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return CommandError(" ".join(text.split()) or exc.__class__.__name__)
