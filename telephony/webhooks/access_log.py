"""One structured log line per Twilio webhook: which call or message, which number and
flow, the HTTP status and how long we took.

It sits first in TELEPHONY_WEBHOOK_MIDDLEWARE (and in MIDDLEWARE) so the duration covers
everything Django did, and speaks for every request under TELEPHONY_WEBHOOK_PREFIX
(/twilio/), a path that matches no webhook included: that is a URL Twilio was given by
mistake. Views may name the flow and release they answered with by setting
`request.telephony_flow` and `request.telephony_release` (else the URL's say).

A refused request (400, 403) is somebody else's: its line carries the path and status
but no field of its body. Every field logged is cut to the size Twilio's own values have
and has its control characters escaped, so no request can make a huge line or forge
another line in a plain-text log.
"""

import logging
import time

from django.conf import settings

from telephony.text import printable

logger = logging.getLogger("telephony.access")

SID_LENGTH = 34
NUMBER_LENGTH = 64
NAME_LENGTH = 100


class WebhookLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        prefix = settings.TELEPHONY_WEBHOOK_PREFIX or "/twilio/"
        if request.path_info.startswith(prefix):
            self.log(request, response, time.perf_counter() - started)
        return response

    @staticmethod
    def log(request, response, seconds: float) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        status = response.status_code
        sid = number = ""
        if status < 400 and request.method == "POST":  # a body we accepted (and parsed)
            post = request.POST
            sid = post.get("CallSid") or post.get("MessageSid") or post.get("SmsSid") or ""
            sid, number = printable(sid, SID_LENGTH), printable(post.get("To", ""), NUMBER_LENGTH)
        match = request.resolver_match
        flow = getattr(request, "telephony_flow", None) or (
            match.kwargs.get("slug", "") if match else ""
        )
        release = getattr(request, "telephony_release", None) or (
            match.kwargs.get("release", "") if match else ""
        )
        fields = {
            "webhook": (match.url_name if match else None) or "-",
            "sid": sid,
            "number": number,
            "flow": printable(flow, NAME_LENGTH),
            "release": release,  # a number or "draft": from our URL converter or our view
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        logger.info(
            "%(webhook)s %(status)s %(sid)s to=%(number)s flow=%(flow)s release=%(release)s "
            "%(duration_ms)sms",
            fields,
            extra=fields,
        )
