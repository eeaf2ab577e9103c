"""What callers, texters and Twilio get when something breaks, through the project's WSGI app.

The database failing (warm and cold worker, messages and status callbacks that cannot be
stored, and their replay), a cache server that is down, bad bytes in every field of every
webhook, and the log line of refused requests. tests/test_faults.py does the same from
outside, against gunicorn in a subprocess.
"""

import logging
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlencode

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.http import QueryDict
from twilio.request_validator import RequestValidator

from telephony.flows import cache as flowcache
from telephony.flows import twiml
from telephony.models import CallLog, FlowsVersion, MessageLog, OptOut
from telephony.system_checks import check_webhook_middleware, check_webhook_security
from telephony.webhooks.replay import MARKER
from tests.test_wsgi import call_wsgi

DEMO = "+15005550006"
CALLER = "+14155551234"
TOKEN = "test-auth-token"


@pytest.fixture
def app():
    from telephony.webhooks.handler import build_application

    return build_application()


def signed(path: str, body: bytes, token: str = TOKEN) -> dict:
    """Headers for `body` signed as Twilio signs it: over the values Django will read."""
    params = QueryDict(body)
    signature = RequestValidator(token).compute_signature("http://testserver" + path, params)
    return {"HTTP_X_TWILIO_SIGNATURE": signature}


def post(app, path: str, params: dict | bytes, token: str = TOKEN) -> dict:
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    return call_wsgi(app, "POST", path, body, signed(path, body, token))


def tags(answer) -> list[str]:
    assert answer["status"] == 200, answer
    return [element.tag for element in ET.fromstring(answer["body"])]


def call(app, sid="CA1", **extra) -> dict:
    return post(app, "/twilio/voice/", {"To": DEMO, "From": CALLER, "CallSid": sid, **extra})


class DatabaseDown:
    """Every query fails as it does when the server is gone (an execute_wrapper)."""

    def __init__(self):
        self.attempts = 0

    def __call__(self, execute, sql, params, many, context):
        self.attempts += 1
        raise OperationalError("server closed the connection unexpectedly")


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(flowcache.time, "monotonic", lambda: now[0])
    return now


# --- the database is away ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_warm_worker_answers_calls_from_memory_and_says_so_once(app, live_demo, clock, caplog):
    first = tags(call(app, "CA1"))
    assert "Gather" in first
    clock[0] += 2  # past the recheck: the worker asks the database again
    down = DatabaseDown()
    with caplog.at_level(logging.ERROR), connection.execute_wrapper(down):
        for i in range(5):
            assert tags(call(app, f"CA{i + 2}")) == first
    outage_lines = [r for r in caplog.records if "Database unreachable" in r.getMessage()]
    assert len(outage_lines) == 1  # once per outage, not per call
    # It asked once, then waits TELEPHONY_CACHE_RETRY_SECONDS before asking again; the
    # calls' rows (written inside the request in tests) failed and were logged for replay;
    # and so did their events (logged, not for replay: the call's row is what replays).
    assert down.attempts == 1 + 5 + 5
    assert sum(MARKER in r.getMessage() for r in caplog.records) == 5


def test_a_gather_of_a_release_held_in_memory_routes_every_option_while_the_database_is_away(
    app, live_demo, clock
):
    root = ET.fromstring(call(app)["body"])
    action = root.find("Gather").get("action")
    clock[0] += 10
    down = DatabaseDown()
    with connection.execute_wrapper(down):
        # The worker holds the whole release the call is on: every option routes.
        assert "Record" in tags(post(app, action, {"Digits": "2", "CallSid": "CA1"}))
        assert "Dial" in tags(post(app, action, {"Digits": "1", "CallSid": "CA1"}))
        # A release it never read it cannot: a polite goodbye, without waiting for it.
        other = action.replace("/releases/1/", "/releases/2/")
        goodbye = ET.fromstring(post(app, other, {"Digits": "1", "CallSid": "CA1"})["body"])
    assert [e.tag for e in goodbye] == ["Say", "Hangup"]
    # The version, once; and the events of the two answers routed from memory (written
    # inside the request in tests: each fails at its SAVEPOINT, is logged, the call goes on).
    assert down.attempts == 1 + 2


def test_a_cold_worker_says_a_polite_goodbye(app, live_demo):
    down = DatabaseDown()
    with connection.execute_wrapper(down):
        answer = call(app)
        again = call(app, "CA2")
    for each in (answer, again):
        root = ET.fromstring(each["body"])
        assert [e.tag for e in root] == ["Say", "Hangup"]
        assert root.find("Say").text == twiml.TECHNICAL_PROBLEM
    # The second call did not wait for the database: it was away a moment ago.
    assert down.attempts == 1 + 2  # the version once, then the two calls' rows


@pytest.mark.django_db(transaction=True)
def test_the_worker_notices_when_the_database_is_back(app, live_demo, clock, caplog, settings):
    tags(call(app))
    clock[0] += 2
    with connection.execute_wrapper(DatabaseDown()):
        call(app, "CA2")
    clock[0] += settings.TELEPHONY_CACHE_RETRY_SECONDS + 0.1
    with caplog.at_level(logging.WARNING):
        assert "Gather" in tags(call(app, "CA3"))
    assert "Database reachable again" in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", ["STOP", "Hello"])
def test_an_sms_that_cannot_be_stored_is_a_503_logged_for_replay(
    app, live_demo, caplog, tmp_path, body
):
    params = {"MessageSid": "SM1", "From": CALLER, "To": DEMO, "Body": body}
    with caplog.at_level(logging.ERROR), connection.execute_wrapper(DatabaseDown()):
        answer = post(app, "/twilio/sms/", params)
    assert answer["status"] == 503
    lines = [r.getMessage() for r in caplog.records if MARKER in r.getMessage()]
    assert len(lines) == 1 and body in lines[0] and "SM1" in lines[0]
    assert not MessageLog.objects.exists()
    log = tmp_path / "web.log"
    log.write_text("something else\n" + "\n".join(lines) + "\n")
    for _twice in range(2):  # replaying again changes nothing
        call_command("replay_webhook", str(log), stdout=open(tmp_path / "out", "w"))
    assert MessageLog.objects.filter(sid="SM1", body=body).count() == 1
    assert OptOut.objects.filter(number=CALLER).exists() == (body == "STOP")


@pytest.mark.django_db(transaction=True)
def test_replay_reads_json_log_lines_too(app, live_demo, tmp_path):
    from telephony.json_logging import JsonFormatter

    params = {"CallSid": "CA9", "CallStatus": "completed", "CallDuration": "42"}
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("telephony.webhooks.replay").addHandler(handler)
    try:
        with connection.execute_wrapper(DatabaseDown()):
            assert post(app, "/twilio/status/", params)["status"] == 503
    finally:
        logging.getLogger("telephony.webhooks.replay").removeHandler(handler)
    log = tmp_path / "web.json"
    log.write_text("".join(JsonFormatter().format(r) + "\n" for r in records))
    call_command("replay_webhook", str(log), stdout=open(tmp_path / "out", "w"))
    row = CallLog.objects.get(sid="CA9")
    assert (row.status, row.duration) == ("completed", 42)


def test_replay_of_a_file_without_lines_does_nothing_and_a_missing_file_is_one_line(tmp_path):
    from django.core.management.base import CommandError

    empty = tmp_path / "empty.log"
    empty.write_text("nothing to see\n")
    call_command("replay_webhook", str(empty), stdout=open(tmp_path / "out", "w"))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("replay_webhook", str(tmp_path / "missing.log"))


@pytest.mark.django_db(transaction=True)
def test_a_stop_is_all_or_nothing(app, live_demo, monkeypatch):
    """The row and the opt-out are one transaction: a failure between them loses neither."""
    from telephony.messaging import inbound

    def fails(**kwargs):
        raise OperationalError("gone between the two writes")

    monkeypatch.setattr(inbound, "record_opt_out", fails)
    params = {"MessageSid": "SM2", "From": CALLER, "To": DEMO, "Body": "STOP"}
    assert post(app, "/twilio/sms/", params)["status"] == 503
    assert not MessageLog.objects.filter(sid="SM2").exists()  # so a replay does it all
    monkeypatch.undo()
    assert post(app, "/twilio/sms/", params)["status"] == 200
    assert OptOut.objects.filter(number=CALLER).exists()


# --- a cache server that is down -----------------------------------------------------------


def test_a_cache_server_that_is_down_is_never_on_the_way(app, live_demo, settings, admin_client):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }
    assert "Gather" in tags(call(app))
    assert (
        post(app, "/twilio/sms/", {"MessageSid": "SM3", "From": CALLER, "Body": "Hi"})["status"]
        == 200
    )
    flow = FlowsVersion.objects.get()  # anything saved from the admin works as well
    response = admin_client.get("/admin/telephony/callflow/")
    assert response.status_code == 200 and flow.number >= 1


# --- bad bytes -----------------------------------------------------------------------------

BAD = {"nul": "%00", "surrogate": "%ED%A0%80", "invalid utf-8": "%FF", "oversize": "x" * 100_000}
FIELDS = ["To", "From", "CallSid", "MessageSid", "Body", "Digits", "CallStatus", "Direction"]


def bad_body(field: str, bad: str) -> bytes:
    params = {"To": DEMO, "From": CALLER, "CallSid": "CA7", "CallStatus": "ringing"}
    params |= {"MessageSid": "SM7", "Body": "hi", "Digits": "1", "Direction": "inbound"}
    parts = [f"{quote(k)}={quote(v)}" for k, v in params.items() if k != field]
    return "&".join([*parts, f"{field}=12{bad}34"]).encode()


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_bad_bytes_in_any_field_of_any_webhook_never_make_a_500(app, live_demo, bad):
    answer = call(app, "CA0")
    gather = ET.fromstring(answer["body"]).find("Gather").get("action")
    paths = ["/twilio/voice/", "/twilio/voice/flows/main-menu/", gather]
    paths += ["/twilio/sms/", "/twilio/status/", "/twilio/fallback/"]
    for path in paths:
        for field in FIELDS:
            body = bad_body(field, bad)
            answer = call_wsgi(app, "POST", path, body, signed(path, body))
            assert answer["status"] in (200, 400), (path, field, answer["status"])
            if answer["status"] == 200:
                ET.fromstring(answer["body"])  # well-formed TwiML
    assert tags(call(app, "CA-after")), "still answering"
    assert CallLog.objects.filter(sid="CA-after").exists()


def test_a_nul_byte_is_removed_from_the_stored_row(app, live_demo):
    body = f"To={quote(DEMO)}&From=%2B1415%00555&CallSid=CA%008".encode()
    assert (
        call_wsgi(app, "POST", "/twilio/voice/", body, signed("/twilio/voice/", body))["status"]
        == 200
    )
    row = CallLog.objects.get()
    assert (row.sid, row.from_number) == ("CA8", "+1415555")
    body = f"MessageSid=SM8&From={quote(CALLER)}&To={quote(DEMO)}&Body=a%00b".encode()
    assert (
        call_wsgi(app, "POST", "/twilio/sms/", body, signed("/twilio/sms/", body))["status"] == 200
    )
    assert MessageLog.objects.get(sid="SM8").body == "ab"


# --- tokens and the log line of refused requests -------------------------------------------


def test_blank_previous_tokens_are_ignored_and_warned_about(app, live_demo, settings):
    settings.TWILIO_PREVIOUS_AUTH_TOKENS = ["old", " ", ""]
    params = {"To": DEMO, "CallSid": "CA1"}
    assert post(app, "/twilio/voice/", params, token=" ")["status"] == 403
    assert post(app, "/twilio/voice/", params, token="old")["status"] == 200
    assert [m.id for m in check_webhook_security(None)] == ["telephony.W008"]


def test_a_refused_request_logs_no_field_of_its_body(app, live_demo, caplog):
    body = urlencode({"To": DEMO, "CallSid": "CA-secret"}).encode()
    with caplog.at_level(logging.INFO, logger="telephony.access"):
        answer = call_wsgi(app, "POST", "/twilio/voice/", body, {"HTTP_X_TWILIO_SIGNATURE": "x"})
    assert answer["status"] == 403
    (record,) = [r for r in caplog.records if r.name == "telephony.access"]
    assert "CA-secret" not in record.getMessage() and DEMO not in record.getMessage()
    assert (record.sid, record.number, record.status) == ("", "", 403)


def test_logged_fields_are_cut_and_cannot_forge_a_line(app, live_demo, caplog):
    sid = "CA1\nERROR forged line " + "x" * 2_000_000
    with caplog.at_level(logging.INFO, logger="telephony.access"):
        answer = post(app, "/twilio/voice/", {"To": DEMO, "CallSid": sid})
    assert answer["status"] in (200, 400)
    for record in caplog.records:
        if record.name == "telephony.access":
            assert "\n" not in record.getMessage()
            assert len(record.getMessage()) < 300


def test_middleware_the_webhooks_do_not_run_is_named(settings):
    assert check_webhook_middleware(None) == []
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "myproject.audit.AuditMiddleware"]
    (warning,) = check_webhook_middleware(None)
    assert warning.id == "telephony.W007" and "myproject.audit.AuditMiddleware" in warning.msg


def test_staff_get_a_page_that_says_what_happened_when_the_database_is_away(admin_client):
    admin_client.raise_request_exception = False
    with connection.execute_wrapper(DatabaseDown()):
        response = admin_client.get("/admin/telephony/callflow/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert "calls to your numbers are still answered" in page
