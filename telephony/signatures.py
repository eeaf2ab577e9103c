"""X-Twilio-Signature validation for incoming webhooks.

The signature covers the URL Twilio requested, so we rebuild that URL from
TELEPHONY_PUBLIC_URL and the raw path and query of this request (proxies may have
rewritten host and scheme). Without a public URL we fall back to Django's own view of
the absolute URI, which honours X-Forwarded-* only when BEHIND_PROXY is set.
The HMAC itself is twilio's `RequestValidator`; we never compute it by hand.
"""

import hmac

from django.conf import settings
from django.http import HttpRequest
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

# A parameter Twilio never sends: our own simulator adds it (inside the signed body, so
# nobody without an auth token can) to run a call without logging it or texting anyone.
SIMULATION_PARAM = "SwitchboardSimulation"

_SIGNATURE_META = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
_SETTINGS_META = "HTTP_" + SIGNATURE_SETTINGS_HEADER.upper().replace("-", "_")


def is_simulation(request: HttpRequest) -> bool:
    return request.POST.get(SIMULATION_PARAM) == "1"


def auth_tokens() -> list[str]:
    """The current Auth Token first, then any still accepted during a rotation."""
    tokens = [settings.TWILIO_AUTH_TOKEN, *settings.TWILIO_PREVIOUS_AUTH_TOKENS]
    return [token for token in tokens if token]


def requested_url(request: HttpRequest) -> str:
    """The URL Twilio signed: the public base URL + this request's path and query."""
    base = settings.TELEPHONY_PUBLIC_URL.rstrip("/")
    if base:
        return base + request.get_full_path()
    return request.build_absolute_uri()


def has_valid_signature(request: HttpRequest) -> bool:
    """True when some accepted token signed exactly this URL and these parameters.

    Fails closed: no signature, or no token configured, means False.
    """
    # META, not request.headers: that builds a dict of every header, on every webhook.
    signature = request.META.get(_SIGNATURE_META, "")
    tokens = auth_tokens()
    if not signature or not tokens:
        return False
    url = requested_url(request)
    algorithm = get_signature_algorithm(request.META.get(_SETTINGS_META))
    # JSON webhooks are signed over the URL only, with the body's hash in bodySHA256.
    json_body = "bodySHA256" in request.META.get("QUERY_STRING", "") and (
        "bodySHA256" in request.GET
    )
    params = request.body.decode("utf-8", "replace") if json_body else request.POST
    return any(_signed_by(token, url, params, signature, algorithm) for token in tokens)


class _FormParams:
    """request.POST as RequestValidator reads a MultiDict (`getall`): Django's QueryDict makes
    it fail over to `getlist` through an AttributeError for every parameter."""

    __slots__ = ("query_dict",)

    def __init__(self, query_dict):
        self.query_dict = query_dict

    def __iter__(self):
        return iter(self.query_dict)

    def getall(self, name):
        # The QueryDict's own list, uncopied (getlist copies): the validator only reads it.
        return dict.__getitem__(self.query_dict, name)


def _signed_by(token, url, params, signature, algorithm) -> bool:
    validator = RequestValidator(token)
    if not isinstance(params, str):
        # The common case, on every webhook: Twilio signed exactly the URL we rebuilt. One
        # HMAC (validate() always computes two: with and without the port) and done.
        try:
            expected = validator.compute_signature(url, _FormParams(params), algorithm)
        except ValueError:  # an algorithm this twilio does not know: validate() refuses it
            expected = None
        if expected is not None and hmac.compare_digest(expected.encode(), signature.encode()):
            return True
    # Anything else (port variants, JSON bodies, wrong signatures): twilio decides.
    return validator.validate(url, params, signature, algorithm)


def sign(url: str, params: dict, token: str | None = None) -> str:
    """The signature Twilio would send for `params` posted to `url` (tests, simulator)."""
    return RequestValidator(token or auth_tokens()[0]).compute_signature(url, params)
