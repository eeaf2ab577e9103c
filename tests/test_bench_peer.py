"""bench/peer.py: the benchmark's peer view must answer what the voice webhook answers.

bench/run.py holds the voice webhook to at least the peer's req/s; that only means
something while both build the same document and check signatures alike. So: the peer's
TwiML against the real answer for the demo number, parsed strictly, verb by verb and
attribute by attribute (URLs compared by the webhook and flow they name, since the
peer, reading no database, cannot know the Gather step's primary key); and a 403 for
any bad or missing signature. Served with bench/settings.py's URLconf.
"""

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.urls import resolve
from twilio.request_validator import RequestValidator

from tests.conftest import parse_twiml
from tests.test_wsgi import call_wsgi

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
BASE = "http://testserver"
PEER = "/twilio/bench/peer/"
CALL = {"To": DEMO, "From": "+14155551234", "CallSid": "CA" + "1" * 32}
# Attributes and texts holding URLs of our own webhooks.
URL_ATTRIBUTES = {"action"}
URL_TEXTS = {"Redirect"}


@pytest.fixture(autouse=True)
def bench_urls(settings):
    settings.ROOT_URLCONF = "bench.peer"  # what bench/settings.py sets
    # As in production (and the bench): signatures are checked against the public URL,
    # and the URLs handed to Twilio start with it.
    settings.TELEPHONY_PUBLIC_URL = BASE


def named(url: str) -> tuple:
    """What a URL of ours means: the webhook and the flow it names (not the step's pk)."""
    assert url.startswith(BASE + "/"), url
    match = resolve(url.removeprefix(BASE))
    return match.view_name, match.kwargs.get("slug")


def shape(element: ET.Element) -> tuple:
    """An element as what matters to Twilio: verb, attributes, text, children."""
    attributes = {
        key: named(value) if key in URL_ATTRIBUTES else value
        for key, value in element.attrib.items()
    }
    text = (element.text or "").strip()
    if element.tag in URL_TEXTS:
        text = named(text)
    return element.tag, attributes, text, [shape(child) for child in element]


def test_peer_answers_like_the_voice_webhook_for_the_demo_number(live_demo, twilio):
    voice = parse_twiml(twilio.post("/twilio/voice/", CALL))
    peer = parse_twiml(twilio.post(PEER, CALL))
    assert [child.tag for child in voice] == ["Say", "Gather"]
    assert shape(peer) == shape(voice)
    # The real answer's Gather names the main menu's Gather step; the peer's names a step
    # of the same flow by a fixed key, which the comparison above deliberately leaves out.
    assert named(voice.find("Gather").get("action")) == ("telephony:gather", "main-menu")


@pytest.mark.parametrize(
    "signature",
    [
        "wrong-token",  # signed with another token
        "other-url",  # signed for another URL
        "garbage",
        None,  # no header at all
    ],
)
def test_peer_refuses_a_bad_signature(client, signature):
    headers = {}
    if signature == "wrong-token":
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator("not-our-token").compute_signature(
            BASE + PEER, CALL
        )
    elif signature == "other-url":
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator("test-auth-token").compute_signature(
            BASE + "/twilio/voice/", CALL
        )
    elif signature == "garbage":
        headers["HTTP_X_TWILIO_SIGNATURE"] = "not a signature"
    response = client.post(PEER, CALL, **headers)
    assert response.status_code == 403


def test_peer_and_trivial_run_through_the_webhooks_light_stack(live_demo):
    """As gunicorn calls them: config/wsgi.py routes /twilio/... to the short stack."""
    from telephony.webhooks.handler import build_application

    app = build_application()
    body = urlencode(CALL).encode()
    signature = RequestValidator("test-auth-token").compute_signature(BASE + PEER, CALL)
    answer = call_wsgi(app, "POST", PEER, body, {"HTTP_X_TWILIO_SIGNATURE": signature})
    assert answer["status"] == 200
    assert ET.fromstring(answer["body"]).tag == "Response"
    # No site middleware ran (the clickjacking header is the full stack's), and the
    # answer is sized as the webhooks' are, so the benchmark compares like with like.
    assert "X-Frame-Options" not in answer["headers"]
    assert answer["headers"]["Content-Length"] == str(len(answer["body"]))
    trivial = call_wsgi(app, "GET", "/twilio/bench/trivial/")
    assert (trivial["status"], trivial["body"]) == (200, b"ok")
    assert "X-Frame-Options" not in trivial["headers"]
