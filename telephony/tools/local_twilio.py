"""Post signed requests to our own webhooks in-process, exactly as Twilio would.

The simulator (tools/simulator.py) plays calls with it and `manage.py replay_webhook`
replays logged requests. Requests are signed with TWILIO_AUTH_TOKEN against
TELEPHONY_PUBLIC_URL + path when it is set, as Twilio signs, and go through Django's
test client: the real URLconf and views, without a network.
"""

from urllib.parse import urlencode, urljoin, urlsplit

from django.conf import settings
from django.test import Client
from django.utils.datastructures import MultiValueDict

from telephony.exceptions import TelephonyConfigurationError
from telephony.webhooks.signatures import auth_tokens, sign


class LocalTwilio:
    """Our webhooks as Twilio reaches them: signed, at the public URL, but in-process."""

    def __init__(self):
        self.public = settings.TELEPHONY_PUBLIC_URL.rstrip("/")
        parts = urlsplit(self.public) if self.public else None
        self.host = parts.netloc if parts else local_host()
        self.base = self.public or f"http://{self.host}"
        self.secure = bool(parts and parts.scheme == "https")
        self.client = Client(
            HTTP_HOST=self.host, SERVER_NAME=self.host.split(":")[0], raise_request_exception=False
        )
        tokens = auth_tokens()
        self.token = tokens[0] if tokens else ""
        if settings.TELEPHONY_VALIDATE_SIGNATURES and not self.token:
            raise TelephonyConfigurationError(
                "TWILIO_AUTH_TOKEN is not set, so the webhooks refuse every request and "
                "nothing can be simulated. Set it (any value works locally)."
            )

    def absolute(self, url: str, current: str) -> str:
        return urljoin(current, url)

    def local_path(self, absolute_url: str) -> str | None:
        """The path to request in-process, or None when the URL is not ours."""
        if absolute_url.startswith(self.base + "/"):
            return absolute_url[len(self.base) :]
        return None

    def post_form(self, path: str, pairs: list[tuple[str, str]]):
        """POST these form fields (in this order, names may repeat) to `path`, signed."""
        url = self.base + path
        fields = MultiValueDict()
        for name, value in pairs:
            fields.appendlist(name, value)
        headers = {"HTTP_X_TWILIO_SIGNATURE": sign(url, fields, self.token)} if self.token else {}
        return self.client.post(
            path,
            urlencode(pairs),
            content_type="application/x-www-form-urlencoded",
            secure=self.secure,
            **headers,
        )

    def request(self, method: str, absolute_url: str, params: dict):
        path = self.local_path(absolute_url)
        headers = {}
        if method == "GET":
            separator = "&" if "?" in absolute_url else "?"
            absolute_url = (
                f"{absolute_url}{separator}{urlencode(params)}" if params else absolute_url
            )
            path = self.local_path(absolute_url)
            if self.token:
                headers["HTTP_X_TWILIO_SIGNATURE"] = sign(absolute_url, {}, self.token)
            return self.client.get(path, secure=self.secure, **headers)
        if self.token:
            headers["HTTP_X_TWILIO_SIGNATURE"] = sign(absolute_url, params, self.token)
        return self.client.post(
            path,
            urlencode(params),
            content_type="application/x-www-form-urlencoded",
            secure=self.secure,
            **headers,
        )


def local_host() -> str:
    """A host name Django accepts (ALLOWED_HOSTS), since the request never leaves."""
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*" and not host.startswith("."):
            return host
    return "localhost"
