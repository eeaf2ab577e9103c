"""The Content-Security-Policy on our admin pages, and pages that need no inline code.

Every admin page we own is fetched through Django's test client (the whole middleware
stack) with real data behind it: its header must forbid inline script (and inline style,
which none of them needs), and its HTML, parsed with html.parser, must hold nothing the
policy would block: no <script> without src, no <style> element, no style="" or on*=
attribute, no javascript: link. tests/test_browser.py checks the same pages in Chromium,
where the policy is enforced. Twilio's webhooks get no policy: they skip MIDDLEWARE.
"""

from html.parser import HTMLParser

import pytest

from telephony.models import CallFlow, CallLog, MessageLog, OptOut, PhoneNumber, VerifiedCallerId
from telephony.tools import diagram
from tests.test_diagram import XSS
from tests.test_wsgi import call_wsgi, signed

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in filter(None, (part.strip() for part in header.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


class InlineCode(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.found.append(f"<script> without src at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> element at line {self.getpos()[0]}")
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "xlink:href", "src", "action") and "javascript:" in (
                value or ""
            ).lower().replace(" ", ""):
                self.found.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


@pytest.fixture
def data(demo):
    """The demo flows and number, a log row of each kind, a caller ID and an opt-out; the
    main menu's description is the diagram attack, so its tooltip must stay text."""
    flow = CallFlow.objects.get(slug="main-menu")
    flow.description = XSS
    flow.save()
    number = PhoneNumber.objects.get(number="+15005550006")
    call = CallLog.objects.create(
        sid="CA" + "1" * 32, direction="inbound", from_number="+14155551234"
    )
    message = MessageLog.objects.create(
        sid="SM" + "1" * 32, direction="inbound", from_number="+14155551234", body="HOURS"
    )
    caller_id = VerifiedCallerId.objects.create(number="+14155550199", friendly_name="Desk")
    opt_out = OptOut.objects.create(number="+14155550100")
    return {
        "flow": flow.pk,
        "number": number.pk,
        "call": call.pk,
        "message": message.pk,
        "caller_id": caller_id.pk,
        "opt_out": opt_out.pk,
    }


def our_pages(ids) -> list[str]:
    base = "/admin/telephony"
    return [
        "/admin/",
        f"{base}/",
        f"{base}/callflow/",
        f"{base}/callflow/add/",
        f"{base}/callflow/{ids['flow']}/change/",  # checks, TwiML preview, inline SVG diagram
        f"{base}/callflow/{ids['flow']}/simulate/",
        f"{base}/phonenumber/",
        f"{base}/phonenumber/add/",
        f"{base}/phonenumber/{ids['number']}/change/",
        f"{base}/phonenumber/{ids['number']}/simulate/",
        f"{base}/verifiedcallerid/",
        f"{base}/verifiedcallerid/{ids['caller_id']}/change/",
        f"{base}/calllog/",
        f"{base}/calllog/{ids['call']}/change/",
        f"{base}/calllog/start-test-call/",
        f"{base}/messagelog/",
        f"{base}/messagelog/{ids['message']}/change/",
        f"{base}/messagelog/send-test-sms/",
        f"{base}/optout/",
        f"{base}/optout/add/",
        f"{base}/optout/{ids['opt_out']}/change/",
    ]


def test_every_page_we_own_has_the_policy_and_no_inline_code(admin_client, data):
    pages = our_pages(data)
    for path in pages:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        policy = directives(response["Content-Security-Policy"])
        assert policy == POLICY, path
        assert "'unsafe-inline'" not in policy["script-src"], path
        assert inline_code(response.content.decode()) == [], path


def test_the_simulator_keypad_posts_under_the_policy(admin_client, data):
    """The keypad is a form posting to its own page (form-action 'self'), no script."""
    path = f"/admin/telephony/callflow/{data['flow']}/simulate/"
    response = admin_client.post(path, {"events": "[]", "key": "1"})
    assert response.status_code == 200
    assert directives(response["Content-Security-Policy"]) == POLICY
    html = response.content.decode()
    assert inline_code(html) == []
    assert "Caller presses 1" in html


@pytest.mark.skipif(diagram.layout_program() is None, reason="no Graphviz program")
def test_the_diagram_is_inline_and_links_only_to_the_admin(admin_client, data):
    html = admin_client.get(f"/admin/telephony/callflow/{data['flow']}/change/").content.decode()
    assert '<div class="flow-diagram"><svg ' in html  # drawn, not the fallback list

    class Links(HTMLParser):
        links = []

        def handle_starttag(self, tag, attrs):
            self.links += [value for name, value in attrs if name in ("href", "xlink:href")]

    parser = Links()
    start = html.index('<div class="flow-diagram">')
    parser.feed(html[start : html.index("</svg>", start)])
    assert parser.links and all(link.startswith("/admin/") for link in parser.links)


def test_the_login_page_has_the_policy_too(client, db):
    response = client.get("/admin/login/")
    assert directives(response["Content-Security-Policy"]) == POLICY
    assert inline_code(response.content.decode()) == []


def test_webhooks_get_no_policy(live_demo):
    """Twilio is no browser: the webhooks' short stack (telephony/webhooks/handler.py)
    adds no policy, while the admin, through the same WSGI application, has it."""
    from telephony.webhooks.handler import build_application

    app = build_application()
    body, headers = signed("/twilio/voice/", {"To": "+15005550006", "CallSid": "CA9"})
    webhook = call_wsgi(app, "POST", "/twilio/voice/", body, headers)
    assert webhook["status"] == 200
    assert "Content-Security-Policy" not in webhook["headers"]
    admin = call_wsgi(app, "GET", "/admin/login/")
    assert directives(admin["headers"]["Content-Security-Policy"]) == POLICY
