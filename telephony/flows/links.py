"""Absolute URLs of our own webhooks, as Twilio must be given them.

Every URL a flow hands Twilio names its release ("releases/7/..." or "releases/draft/"),
so a call finishes on the release it began with, whatever is published meanwhile.

With TELEPHONY_PUBLIC_URL set, every URL we hand Twilio starts with it (so a path
prefix or another host in front of us is respected). Without it we return the path
alone: Twilio resolves relative URLs against the URL it just requested.
"""

from django.conf import settings
from django.urls import reverse


def public_url(path: str) -> str:
    base = settings.TELEPHONY_PUBLIC_URL.rstrip("/")
    return f"{base}{path}" if base else path


def webhook_url(name: str, **kwargs) -> str:
    return public_url(reverse(f"telephony:{name}", kwargs=kwargs or None))


def live_flow_url(slug: str) -> str:
    """A flow of the live release: what outbound calls are given as their `url`."""
    return webhook_url("flow", slug=slug)


def flow_url(release: str, slug: str) -> str:
    """A flow of a release: Redirects between flows."""
    return webhook_url("release_flow", release=release, slug=slug)


def step_url(name: str, release: str, slug: str, position: int) -> str:
    """URL of a step's outcome webhook: gather, dial, record, enqueue, wait or sms_step."""
    return webhook_url(name, release=release, slug=slug, position=position)


def voicemail_url(name: str, *, release: str, slug: str, position: int, box_id: int | None) -> str:
    """URL of a Record step's recording or transcription callback (webhooks/voicemail.py):
    the step and its box ride along, so the message lands in the box it was left for."""
    url = step_url(f"voicemail_{name}", release, slug, position)
    return f"{url}?box={box_id}" if box_id else url
