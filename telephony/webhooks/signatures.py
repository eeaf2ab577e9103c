"""X-Twilio-Signature validation for incoming webhooks.

The signature covers the URL Twilio requested, so we rebuild that URL from
TELEPHONY_PUBLIC_URL and the raw path and query of this request (proxies may have
rewritten host and scheme). Without a public URL we fall back to Django's own view of
the absolute URI, which honours X-Forwarded-* only when BEHIND_PROXY is set.
The HMAC itself is twilio's `RequestValidator`; we never compute it by hand.
"""

import hmac
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from django.utils.encoding import escape_uri_path
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from telephony.webhooks.formdata import field

# A parameter Twilio never sends: our own simulator adds it (inside the signed body, so
# nobody without an auth token can) to run a call without logging it or texting anyone.
SIMULATION_PARAM = "SwitchboardSimulation"

_SIGNATURE_META = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
_SETTINGS_META = "HTTP_" + SIGNATURE_SETTINGS_HEADER.upper().replace("-", "_")


def is_simulation(request: HttpRequest) -> bool:
    return field(request.POST, SIMULATION_PARAM) == "1"


def auth_tokens() -> list[str]:
    """The current Auth Token first, then any still accepted during a rotation."""
    tokens = [settings.TWILIO_AUTH_TOKEN, *settings.TWILIO_PREVIOUS_AUTH_TOKENS]
    return [token for token in tokens if token]


def requested_url(request: HttpRequest) -> str:
    """The URL Twilio signed: the public base URL + this request's path and query."""
    base = settings.TELEPHONY_PUBLIC_URL
    if not base:
        return request.build_absolute_uri()
    if request.META.get("QUERY_STRING"):
        return base.rstrip("/") + request.get_full_path()
    return _public_url(base, request.path)


@lru_cache(maxsize=1024)  # webhooks come to a handful of paths, all day long
def _public_url(base: str, path: str) -> str:
    """`base` + what `request.get_full_path()` gives for `path` without a query string."""
    return base.rstrip("/") + escape_uri_path(path)


def has_valid_signature(request: HttpRequest) -> bool:
    """True when some accepted token signed exactly this URL and these parameters.

    Fails closed: no signature, or no token configured, means False.
    """
    meta = request.META
    # META, not request.headers: that builds a dict of every header, on every webhook.
    signature = meta.get(_SIGNATURE_META)
    tokens = auth_tokens()
    if not signature or not tokens:
        return False
    url = requested_url(request)
    signature_settings = meta.get(_SETTINGS_META)
    algorithm = get_signature_algorithm(signature_settings) if signature_settings else None
    # JSON webhooks are signed over the URL only, with the body's hash in bodySHA256.
    if "bodySHA256" in meta.get("QUERY_STRING", "") and "bodySHA256" in request.GET:
        body = request.body.decode("utf-8", "replace")
        return any(_validator(t).validate(url, body, signature, algorithm) for t in tokens)
    params = request.POST
    for token in tokens:
        if _signed_by(_form_validator(token), url, params, signature, algorithm):
            return True
    return False


@lru_cache(maxsize=8)  # the current token and any previous ones, for the process's life
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


class _FormValidator(RequestValidator):
    """twilio's RequestValidator, reading a QueryDict as the dict of lists it is underneath.

    `get_values(params, name)` is twilio's hook for parameter containers: all of a field's
    values. Its own tries `getall`, then `getlist` (which copies the list), through
    AttributeErrors, in a Python call for every field of every webhook; here it is the
    C-level `dict.__getitem__`. The signature itself is twilio's, unchanged."""

    get_values = staticmethod(dict.__getitem__)


@lru_cache(maxsize=8)
def _form_validator(token: str) -> _FormValidator:
    return _FormValidator(token)


def _signed_by(validator: RequestValidator, url, params, signature, algorithm) -> bool:
    # The common case, on every webhook: Twilio signed exactly the URL we rebuilt. One
    # HMAC (validate() always computes two: with and without the port) and done.
    try:
        expected = validator.compute_signature(url, params, algorithm)
    except ValueError:  # an algorithm this twilio does not know: validate() refuses it
        expected = None
    if expected is not None and hmac.compare_digest(expected.encode(), signature.encode()):
        return True
    # Anything else (port variants, wrong signatures): twilio decides.
    return validator.validate(url, params, signature, algorithm)


def sign(url: str, params: dict, token: str | None = None) -> str:
    """The signature Twilio would send for `params` posted to `url` (tests, simulator)."""
    return _validator(token or auth_tokens()[0]).compute_signature(url, params)
