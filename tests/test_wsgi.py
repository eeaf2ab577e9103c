"""config/wsgi.py: Twilio's webhooks through their own short middleware stack, the admin
through the whole one - called as gunicorn calls it, with a WSGI environ."""

import io
import logging
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from twilio.request_validator import RequestValidator

from telephony.models import CallLog
from telephony.webhooks.handler import WebhookDispatcher, build_application

DEMO = "+15005550006"


def call_wsgi(app, method, path, body=b"", headers=None):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
    }
    if method == "POST":
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    environ.update(headers or {})
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    # As Django's test client does: the test's transaction must outlive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = app(environ, start_response)
        try:
            answer["body"] = b"".join(result)
        finally:
            result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer


@pytest.fixture
def app():
    return build_application()


def signed(path, params):
    signature = RequestValidator("test-auth-token").compute_signature(
        "http://testserver" + path, params
    )
    return urlencode(params).encode(), {"HTTP_X_TWILIO_SIGNATURE": signature}


def test_webhooks_run_through_the_short_stack(app, live_demo, caplog):
    assert isinstance(app, WebhookDispatcher)
    body, headers = signed("/twilio/voice/", {"To": DEMO, "From": "+14155551234", "CallSid": "CA9"})
    with caplog.at_level(logging.INFO, logger="telephony.access"):
        answer = call_wsgi(app, "POST", "/twilio/voice/", body, headers)
    assert answer["status"] == 200
    root = ET.fromstring(answer["body"])
    assert [child.tag for child in root][:2] == ["Say", "Gather"]
    # No admin middleware ran: no clickjacking header, no cookies, no Vary: Cookie.
    assert "X-Frame-Options" not in answer["headers"]
    assert "Set-Cookie" not in answer["headers"]
    assert "Cookie" not in answer["headers"].get("Vary", "")
    # Nor SecurityMiddleware's headers, which speak to browsers (settings.base): the answer
    # carries its type and length, and the webhook log line was written.
    assert set(answer["headers"]) == {"Content-Type", "Content-Length"}
    assert [r.webhook for r in caplog.records if r.name == "telephony.access"] == ["voice"]
    assert CallLog.objects.get().sid == "CA9"


def test_a_bad_signature_is_still_refused(app, demo):
    body, headers = signed("/twilio/voice/", {"To": DEMO, "CallSid": "CA9"})
    answer = call_wsgi(app, "POST", "/twilio/voice/", body + b"&x=1", headers)
    assert answer["status"] == 403
    assert not CallLog.objects.exists()


def test_an_unknown_path_under_the_prefix_is_a_404(app, db):
    assert call_wsgi(app, "POST", "/twilio/nothing-here/")["status"] == 404


def test_the_admin_keeps_every_middleware(app, db):
    answer = call_wsgi(app, "GET", "/admin/login/")
    assert answer["status"] == 200
    assert answer["headers"]["X-Frame-Options"] == "DENY"
    assert "csrftoken" in answer["headers"].get("Set-Cookie", "")
    assert call_wsgi(app, "GET", "/healthz")["body"] == b"ok"


def test_an_empty_prefix_serves_everything_through_one_handler(settings):
    settings.TELEPHONY_WEBHOOK_PREFIX = ""
    assert not isinstance(build_application(), WebhookDispatcher)


def test_the_prefix_must_cover_the_webhooks(settings):
    from telephony.system_checks import check_webhook_prefix

    assert check_webhook_prefix(None) == []
    settings.TELEPHONY_WEBHOOK_PREFIX = "/hooks/"
    assert [m.id for m in check_webhook_prefix(None)] == ["telephony.W005"]


def test_three_calls_through_the_project_wsgi_app_get_three_rows(app, demo):
    for sid in ("CA1", "CA2", "CA3"):
        body, headers = signed("/twilio/voice/", {"To": DEMO, "CallSid": sid})
        answer = call_wsgi(app, "POST", "/twilio/voice/", body, headers)
        assert answer["status"] == 200
        assert ET.fromstring(answer["body"])[0].tag == "Say"
    assert CallLog.objects.count() == 3


def test_another_urlconf_is_resolved_afresh(app, demo, settings):
    body, headers = signed("/twilio/voice/", {"To": DEMO, "CallSid": "CA1"})
    assert call_wsgi(app, "POST", "/twilio/voice/", body, headers)["status"] == 200
    settings.ROOT_URLCONF = "tests.urls_without_webhooks"
    assert call_wsgi(app, "POST", "/twilio/voice/", body, headers)["status"] == 404
