"""X-Twilio-Signature validation for incoming webhooks, through twilio's RequestValidator.

The signature covers the URL Twilio requested, so we rebuild that URL from
TELEPHONY_PUBLIC_URL and the raw path and query of this request (proxies may have
rewritten host and scheme). Without a public URL we fall back to Django's own view of
the absolute URI, which honours X-Forwarded-* only when BEHIND_PROXY is set.
The HMAC itself is twilio's `RequestValidator.validate()`; we never compute it by hand.
"""

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
# With it, the time a simulated call happens at (ISO 8601), for its Hours steps.
SIMULATED_AT_PARAM = "SwitchboardAt"


def is_simulation(request: HttpRequest) -> bool:
    return request.POST.get(SIMULATION_PARAM) == "1"


def auth_tokens() -> list[str]:
    """The current Auth Token first, then any still accepted during a rotation.

    Blank and whitespace-only entries are ignored (TWILIO_PREVIOUS_AUTH_TOKENS="old, "
    must not accept requests signed with " "); a system check warns about them."""
    tokens = [settings.TWILIO_AUTH_TOKEN, *settings.TWILIO_PREVIOUS_AUTH_TOKENS]
    return [token.strip() for token in tokens if token and token.strip()]


def requested_url(request: HttpRequest) -> str:
    """The URL Twilio signed: the public base URL + this request's path and query."""
    base = settings.TELEPHONY_PUBLIC_URL
    if not base:
        return request.build_absolute_uri()
    return base.rstrip("/") + request.get_full_path()


def has_valid_signature(request: HttpRequest) -> bool:
    """True when some accepted token signed exactly this URL and these parameters.

    Fails closed: no signature, or no token configured, means False.
    """
    signature = _header(request, SIGNATURE_HEADER)
    tokens = auth_tokens()
    if not signature or not tokens:
        return False
    algorithm = get_signature_algorithm(_header(request, SIGNATURE_SETTINGS_HEADER))
    # JSON webhooks are signed over the URL only, with the body's hash in bodySHA256:
    # RequestValidator takes their body as a string.
    if "bodySHA256" in request.GET:
        params = request.body.decode("utf-8", "replace")
    else:
        params = request.POST
    url = requested_url(request)
    return any(
        RequestValidator(token).validate(url, params, signature, algorithm) for token in tokens
    )


def _header(request: HttpRequest, name: str) -> str | None:
    """A request header by name from META, as `request.headers` has it: that builds a dict
    of every header on first use, which a webhook reading two has no need for."""
    return request.META.get("HTTP_" + name.upper().replace("-", "_"))


def sign(url: str, params: dict, token: str | None = None) -> str:
    """The signature Twilio would send for `params` posted to `url` (tests, simulator)."""
    return RequestValidator(token or auth_tokens()[0]).compute_signature(url, params)
