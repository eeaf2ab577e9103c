"""Pick the sending backend named by TELEPHONY_BACKEND, as Django picks EMAIL_BACKEND.

TELEPHONY_BACKEND is a dotted path to a class (every backend module names it
`TelephonyBackend`), or one of the short names below. Left empty, it is `twilio` when
TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are both set and `console` otherwise, so a
fresh clone never sends anything by accident.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from telephony.exceptions import TelephonyConfigurationError
from telephony.sending.backends.base import BaseTelephonyBackend

SHORT_NAMES = {
    "twilio": "telephony.sending.backends.twilio.TelephonyBackend",
    "console": "telephony.sending.backends.console.TelephonyBackend",
    "locmem": "telephony.sending.backends.locmem.TelephonyBackend",
}


def backend_path() -> str:
    name = (getattr(settings, "TELEPHONY_BACKEND", "") or "").strip()
    if not name:
        has_credentials = settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
        name = "twilio" if has_credentials else "console"
    return SHORT_NAMES.get(name, name)


def get_backend(path: str | None = None, **options) -> BaseTelephonyBackend:
    """A new instance of the configured backend (or of `path`)."""
    path = SHORT_NAMES.get(path, path) if path else backend_path()
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise TelephonyConfigurationError(
            f"TELEPHONY_BACKEND {path!r} cannot be imported ({exc}). Use twilio, console, "
            "locmem or a dotted path to a backend class."
        ) from exc
    return backend_class(**options)
