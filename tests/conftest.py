"""Shared fixtures: signed webhook requests, TwiML parsing, the demo data, task workers."""

import signal
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from twilio.request_validator import RequestValidator

TEST_HOST = "testserver"
FORM = "application/x-www-form-urlencoded"


def parse_twiml(response) -> ET.Element:
    """Strictly parse a TwiML response; fails the test on malformed XML."""
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


class SignedClient:
    """Posts to our webhooks the way Twilio does: form body + X-Twilio-Signature."""

    def __init__(self, client, token="test-auth-token", base="http://testserver"):
        self.client = client
        self.token = token
        self.base = base

    def signature(self, path, params, token=None, url=None):
        url = url or self.base + path
        return RequestValidator(token or self.token).compute_signature(url, params)

    def post(self, path, params=None, *, token=None, url=None, **extra):
        """A form-encoded POST, as Twilio sends (the test client's default is multipart)."""
        params = dict(params or {})
        signature = self.signature(path, params, token=token, url=url)
        extra.setdefault("content_type", FORM)
        return self.client.post(
            path, urlencode(params, doseq=True), HTTP_X_TWILIO_SIGNATURE=signature, **extra
        )


def run_tasks() -> None:
    """`manage.py db_worker --batch`, in this process: run every task that is ready, then
    return. Needs a transactional test (`django_db(transaction=True)`): the worker works in
    transactions of its own, as in production, and closes connections it finds in one."""
    # The worker installs its own SIGINT/SIGTERM handlers; give pytest its own back.
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
    handlers = {sig: signal.getsignal(sig) for sig in signals}
    try:
        call_command("db_worker", batch=True, startup_delay=False, interval=0, verbosity=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def empty_flow_cache():
    """Each test starts with a worker that holds no flows (its rows are rolled back)."""
    from telephony.flows import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def twilio(client):
    return SignedClient(client)


@pytest.fixture
def demo(db):
    """The demo's rows, as the draft: nothing is published (see `live_demo`)."""
    call_command("loaddata", "demo", verbosity=0)


@pytest.fixture
def live_demo(demo):
    """The demo as `make run` leaves it: loaded and published as release 1."""
    from tests.factories import publish

    publish("The demo.")


@pytest.fixture(autouse=True)
def outbox():
    """What the locmem sending backend (the test default) sent; emptied for every test."""
    from telephony.sending.backends import locmem

    locmem.reset()
    yield locmem.outbox
    locmem.reset()


@pytest.fixture
def fake_twilio(settings):
    """A local fake api.twilio.com (tests/fake_twilio.py) behind the real twilio backend."""
    from tests.fake_twilio import FakeTwilio

    with FakeTwilio() as server:
        settings.TELEPHONY_BACKEND = "twilio"
        settings.TWILIO_API_BASE_URL = server.url
        yield server
