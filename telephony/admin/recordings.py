"""Recordings in the admin: the staff-only stream of a recording held at Twilio, and its
player. The browser never talks to Twilio: `stream()` fetches the audio with the
account's credentials, from Twilio's API host only (telephony/voicemail/audio.py), and
passes Range through so the player can seek."""

import logging

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.html import format_html

from telephony.voicemail import audio

logger = logging.getLogger(__name__)


def stream(request, recording_url: str, what: str) -> HttpResponse:
    """The recording at `recording_url`, streamed; 403 for a URL off Twilio's API host,
    502 when Twilio does not give it (`what` names it in the log)."""
    try:
        fetched = audio.fetch(recording_url, range_header=request.headers.get("Range", ""))
    except audio.RecordingRefused as exc:
        logger.warning("%s: %s", what, exc)
        return HttpResponse(str(exc), status=403, content_type="text/plain")
    except audio.RecordingUnavailable as exc:
        logger.warning("%s: %s", what, exc)
        return HttpResponse(
            f"The recording is not available: {exc}", status=502, content_type="text/plain"
        )
    response = StreamingHttpResponse(
        fetched.chunks, status=fetched.status, content_type=fetched.content_type
    )
    for name, value in fetched.headers.items():
        response.headers[name] = value
    response.headers.setdefault("Accept-Ranges", "bytes")
    response.headers["Cache-Control"] = "private, no-store"
    return response


def player(url: str, css_class: str = "voicemail-player") -> str:
    """An <audio> element for our stream view (no inline script or style: CSP)."""
    return format_html(
        '<audio class="{}" controls preload="none" src="{}"><a href="{}">Download</a></audio>',
        css_class,
        url,
        url,
    )
