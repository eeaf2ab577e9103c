"""The audio of a voicemail, fetched from Twilio for a staff member's browser.

Twilio keeps recordings behind the account's credentials (HTTP basic auth). The admin's
player asks our stream view, which fetches the recording from Twilio and passes it on:
the browser never sees the credentials or Twilio's URL. Only Twilio's API host is ever
asked (TWILIO_API_BASE_URL's scheme and host when set, else https://api.twilio.com), and
only for a recording of our account; any other URL is refused before a request is made.
Range requests are passed through, so the player can seek (206 Partial Content).
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings

DEFAULT_API = "https://api.twilio.com"
_PATH = re.compile(
    r"^/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Recordings/(RE[0-9a-fA-F]{32})(\.wav|\.mp3)?$"
)
CHUNK = 64 * 1024
PASSED_HEADERS = ("Content-Length", "Content-Range", "Accept-Ranges", "Last-Modified", "ETag")


class RecordingRefused(Exception):
    """We will not fetch this URL (another host, another account, not a recording)."""


class RecordingUnavailable(Exception):
    """Twilio did not give us the recording (error, timeout, no credentials)."""


def api_origin() -> tuple[str, str]:
    parts = urlsplit((getattr(settings, "TWILIO_API_BASE_URL", "") or "").strip() or DEFAULT_API)
    return parts.scheme.lower(), parts.netloc.lower()


def media_url(recording_url: str) -> str:
    """The URL of the recording's WAV at Twilio, or RecordingRefused."""
    parts = urlsplit(recording_url or "")
    scheme, netloc = api_origin()
    if (parts.scheme.lower(), parts.netloc.lower()) != (scheme, netloc):
        raise RecordingRefused("The recording is not on Twilio's API host; not fetched.")
    match = _PATH.match(parts.path)
    if match is None or parts.query or parts.fragment:
        raise RecordingRefused("The recording URL is not a Twilio recording; not fetched.")
    if match.group(1) != settings.TWILIO_ACCOUNT_SID:
        raise RecordingRefused("The recording belongs to another Twilio account; not fetched.")
    path = parts.path if match.group(3) else parts.path + ".wav"
    return urlunsplit((scheme, netloc, path, "", ""))


@dataclass
class Fetched:
    status: int
    content_type: str
    headers: dict
    chunks: object  # an iterator of bytes that closes the connection at its end


def fetch(recording_url: str, *, range_header: str = "") -> Fetched:
    """Start fetching the recording (RecordingRefused before any request is made)."""
    url = media_url(recording_url)
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        raise RecordingUnavailable("No Twilio account is configured (TWILIO_ACCOUNT_SID).")
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc from the environment in between
    headers = {"Range": range_header} if range_header else {}
    try:
        upstream = session.get(
            url,
            auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN),
            headers=headers,
            stream=True,
            allow_redirects=False,  # a redirect would lead to another host
            timeout=(3.05, float(getattr(settings, "TELEPHONY_TWILIO_TIMEOUT", 10.0))),
        )
    except requests.RequestException as exc:
        session.close()
        raise RecordingUnavailable(f"Twilio could not be reached ({type(exc).__name__}).") from exc
    if upstream.status_code not in (200, 206, 416):
        status = upstream.status_code
        upstream.close()
        session.close()
        raise RecordingUnavailable(f"Twilio answered HTTP {status} for the recording.")

    def chunks():
        try:
            yield from upstream.iter_content(CHUNK)
        finally:
            upstream.close()
            session.close()

    content_type = upstream.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type.startswith("audio/") or content_type == "audio/x-wav":
        content_type = "audio/wav" if not content_type.endswith("mpeg") else content_type
    passed = {name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers}
    return Fetched(upstream.status_code, content_type, passed, chunks())
