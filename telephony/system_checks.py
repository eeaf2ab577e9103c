"""System checks (`manage.py check`): configuration that would break webhooks silently."""

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.utils.module_loading import import_string


@register()
def check_webhook_security(app_configs, **kwargs):
    problems = []
    if not settings.TELEPHONY_VALIDATE_SIGNATURES:
        problems.append(
            Warning(
                "Twilio webhook signature validation is switched off: anyone can drive "
                "your call flows.",
                hint="Unset TELEPHONY_VALIDATE_SIGNATURES (it defaults to on) outside local experiments.",
                id="telephony.W001",
            )
        )
    elif not settings.TWILIO_AUTH_TOKEN:
        problems.append(
            Warning(
                "TWILIO_AUTH_TOKEN is not set, so every webhook answers 403.",
                hint="Set TWILIO_AUTH_TOKEN to your account's Auth Token.",
                id="telephony.W002",
            )
        )
    blank = [token for token in settings.TWILIO_PREVIOUS_AUTH_TOKENS if not token.strip()]
    if blank:
        problems.append(
            Warning(
                f"TWILIO_PREVIOUS_AUTH_TOKENS has {len(blank)} blank or whitespace-only "
                "entr" + ("y" if len(blank) == 1 else "ies") + "; they are ignored.",
                hint='Remove them, e.g. TWILIO_PREVIOUS_AUTH_TOKENS="old-token" rather than '
                '"old-token, ".',
                id="telephony.W008",
            )
        )
    public_url = settings.TELEPHONY_PUBLIC_URL
    if public_url:
        parsed = urlparse(public_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query:
            problems.append(
                Error(
                    f"TELEPHONY_PUBLIC_URL {public_url!r} is not an absolute http(s) URL.",
                    hint="Use the base URL Twilio calls, e.g. https://switchboard.example.com",
                    id="telephony.E001",
                )
            )
    return problems


@register(Tags.security, deploy=True)
def check_public_url(app_configs, **kwargs):
    public_url = settings.TELEPHONY_PUBLIC_URL
    if public_url.startswith("http://"):
        return [
            Warning(
                f"TELEPHONY_PUBLIC_URL {public_url!r} is plain http: Twilio's webhooks, and "
                "what callers typed into them, cross the internet unencrypted.",
                hint="Serve Switchboard over https and give Twilio that URL. (Webhooks are "
                "then held to https by their signature: one sent over http is refused.)",
                id="telephony.W006",
            )
        ]
    if public_url:
        return []
    return [
        Warning(
            "TELEPHONY_PUBLIC_URL is not set: signatures are checked against the URL "
            "Django sees, which a proxy may have rewritten.",
            hint="Set TELEPHONY_PUBLIC_URL to the https base URL you give Twilio.",
            id="telephony.W003",
        )
    ]


@register()
def check_sending_backend(app_configs, **kwargs):
    """TELEPHONY_BACKEND must import, and the twilio backend needs credentials."""
    from telephony.sending.backends import backend_path

    path = backend_path()
    try:
        import_string(path)
    except ImportError as exc:
        return [
            Error(
                f"TELEPHONY_BACKEND {path!r} cannot be imported ({exc}).",
                hint="Use twilio, console, locmem or a dotted path to a backend class.",
                id="telephony.E002",
            )
        ]
    if path.endswith(".twilio.TelephonyBackend") and not (
        settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
    ):
        return [
            Error(
                "TELEPHONY_BACKEND is twilio but TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is "
                "not set, so nothing can be sent.",
                hint="Set both, or TELEPHONY_BACKEND=console to print messages instead.",
                id="telephony.E003",
            )
        ]
    return []


@register(deploy=True)
def check_backend_sends(app_configs, **kwargs):
    """On a deployment, a console or locmem backend means nothing is really sent."""
    from telephony.sending.backends import backend_path

    path = backend_path()
    if ".console." not in path and ".locmem." not in path:
        return []
    return [
        Warning(
            f"TELEPHONY_BACKEND is {path}: SMS and calls are not really sent.",
            hint="Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TELEPHONY_BACKEND=twilio).",
            id="telephony.W004",
        )
    ]


@register()
def check_call_log_writes(app_configs, **kwargs):
    """How inbound call rows are written (telephony/logs/calls.py)."""
    problems = []
    if settings.TELEPHONY_CALL_LOG_WRITES not in ("deferred", "immediate"):
        problems.append(
            Error(
                f"TELEPHONY_CALL_LOG_WRITES is {settings.TELEPHONY_CALL_LOG_WRITES!r}.",
                hint="Use deferred (batched, the default) or immediate (inside the webhook).",
                id="telephony.E004",
            )
        )
    if not 0 <= settings.TELEPHONY_CALL_LOG_DELAY <= 5:
        problems.append(
            Error(
                f"TELEPHONY_CALL_LOG_DELAY is {settings.TELEPHONY_CALL_LOG_DELAY} s.",
                hint="Use a delay between 0 and 5 seconds (default 0.1): a worker killed "
                "outright loses the rows of its last delay.",
                id="telephony.E005",
            )
        )
    return problems


@register()
def check_webhook_prefix(app_configs, **kwargs):
    """The webhooks' own middleware stack only serves them if the prefix matches the URLs."""
    from django.urls import NoReverseMatch, reverse

    prefix = settings.TELEPHONY_WEBHOOK_PREFIX
    try:
        voice = reverse("telephony:voice")
    except NoReverseMatch:
        return []
    if prefix and not voice.startswith(prefix):
        return [
            Warning(
                f"TELEPHONY_WEBHOOK_PREFIX {prefix!r} does not cover the voice webhook "
                f"{voice!r}: webhooks run through every middleware of the admin (slower).",
                hint="Set TELEPHONY_WEBHOOK_PREFIX to the path the URLconf mounts "
                "telephony.urls under, e.g. /twilio/.",
                id="telephony.W005",
            )
        ]
    return []


@register()
def check_webhook_middleware(app_configs, **kwargs):
    """MIDDLEWARE does not reach the webhooks: name what is in it that they do without."""
    if not settings.TELEPHONY_WEBHOOK_PREFIX:
        return []  # one handler for everything: webhooks run every middleware
    known = set(settings.TELEPHONY_WEBHOOK_MIDDLEWARE) | set(
        settings.TELEPHONY_BROWSER_ONLY_MIDDLEWARE
    )
    missing = [path for path in settings.MIDDLEWARE if path not in known]
    if not missing:
        return []
    return [
        Warning(
            f"MIDDLEWARE has {', '.join(missing)}, which Twilio's webhooks do not run: "
            f"they run only TELEPHONY_WEBHOOK_MIDDLEWARE.",
            hint="Add it to TELEPHONY_WEBHOOK_MIDDLEWARE if webhooks need it, or to "
            "TELEPHONY_BROWSER_ONLY_MIDDLEWARE if only browsers do (README, 'Webhook URLs').",
            id="telephony.W007",
        )
    ]


@register()
def check_frozen_clock(app_configs, **kwargs):
    """TELEPHONY_NOW (tests, demos) must be a time; an unreadable one would stop every
    Hours step deciding."""
    from telephony.flows.schedules import parse_time

    if not settings.TELEPHONY_NOW:
        return []
    try:
        parse_time(settings.TELEPHONY_NOW)
    except ValueError:
        return [
            Error(
                f"TELEPHONY_NOW {settings.TELEPHONY_NOW!r} is not an ISO 8601 time.",
                hint="Use e.g. 2026-12-23T10:00-05:00, or leave it blank for the real time.",
                id="telephony.E006",
            )
        ]
    return []


@register()
def check_send_rates(app_configs, **kwargs):
    """The account's ceilings for texts and calls: a pace divides by them (sending/pace.py)."""
    names = (
        "TELEPHONY_ACCOUNT_MAX_RATE",
        "TELEPHONY_MESSAGING_SERVICE_RATE",
        "TELEPHONY_ACCOUNT_MAX_CALL_RATE",
    )
    return [
        Error(
            f"{name} is {getattr(settings, name)!r}.",
            hint="Use a number above 0: messages (segments) or calls per second "
            "(TELEPHONY_ACCOUNT_MAX_CALL_RATE: Twilio's calls per second for the account, 1 "
            "unless Twilio raised it).",
            id="telephony.E007",
        )
        for name in names
        if not getattr(settings, name) > 0
    ]
