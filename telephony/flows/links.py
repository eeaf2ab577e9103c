"""Absolute URLs of our own webhooks, as Twilio must be given them.

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


def flow_url(slug: str) -> str:
    return webhook_url("flow", slug=slug)


def step_url(name: str, slug: str, step_pk: int) -> str:
    """URL of a step's outcome webhook: gather, dial, record or enqueue."""
    return webhook_url(name, slug=slug, step_pk=step_pk)


def voicemail_url(name: str, *, box_id: int | None, step_id: int) -> str:
    """URL of a Record step's recording or transcription callback (webhooks/voicemail.py):
    the box and step ride along, so the message lands in the box it was left for."""
    url = webhook_url(f"voicemail_{name}", step_pk=step_id)
    return f"{url}?box={box_id}" if box_id else url
