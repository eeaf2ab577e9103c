"""Status callbacks (/twilio/status/): statuses only move forward; duplicates are harmless."""

import threading
from urllib.parse import urlencode

import pytest
from django.db import connection

from telephony.logs import statuses
from telephony.models import CallLog, MessageLog, PhoneNumber
from telephony.sending import services
from tests.conftest import FORM, parse_twiml, verbs

pytestmark = pytest.mark.django_db

OURS = "+15005550006"
CALLER = "+14155551234"


def message_status(twilio, sid, status, **extra):
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status}
    params.update({"From": OURS, "To": CALLER, **extra})
    root = parse_twiml(twilio.post("/twilio/status/", params))
    assert verbs(root) == []
    return MessageLog.objects.get(sid=sid)


def call_status(twilio, sid, status, **extra):
    params = {"CallSid": sid, "CallStatus": status, "From": OURS, "To": CALLER, **extra}
    root = parse_twiml(twilio.post("/twilio/status/", params))
    assert verbs(root) == []
    return CallLog.objects.get(sid=sid)


@pytest.fixture
def sent(db):
    PhoneNumber.objects.create(number=OURS)
    return services.send_sms(to=CALLER, body="Hi")


# --- messages -----------------------------------------------------------------------------------


def test_message_statuses_move_forward(sent, twilio):
    assert message_status(twilio, sent.sid, "sent").status == "sent"
    assert message_status(twilio, sent.sid, "delivered").status == "delivered"
    assert message_status(twilio, sent.sid, "sent").status == "delivered"  # late: ignored
    assert message_status(twilio, sent.sid, "queued").status == "delivered"
    assert message_status(twilio, sent.sid, "read").status == "read"  # read follows delivered
    assert MessageLog.objects.count() == 1


def test_a_duplicate_callback_changes_nothing(sent, twilio):
    first = message_status(twilio, sent.sid, "delivered")
    again = message_status(twilio, sent.sid, "delivered", ErrorCode="30003")
    assert again.updated_at == first.updated_at and again.error_code is None


def test_failures_record_the_error_and_are_final(sent, twilio):
    failed = message_status(
        twilio, sent.sid, "undelivered", ErrorCode="30003", ErrorMessage="Unreachable handset"
    )
    assert (failed.status, failed.error_code, failed.error_message) == (
        "undelivered",
        30003,
        "Unreachable handset",
    )
    for late in ("sent", "delivered", "failed"):  # terminal statuses never replace each other
        assert message_status(twilio, sent.sid, late).status == "undelivered"


def test_an_unknown_message_sid_gets_200_and_a_record(db, twilio):
    log = message_status(twilio, "SM" + "9" * 32, "delivered")
    assert (log.direction, log.status, log.from_number, log.to_number) == (
        "outbound",
        "delivered",
        OURS,
        CALLER,
    )


def test_an_unknown_status_word_is_kept_but_never_overrides(sent, twilio):
    assert message_status(twilio, sent.sid, "teleported").status == "queued"
    other = "SM" + "3" * 32
    assert message_status(twilio, other, "teleported").status == "teleported"  # a new row
    assert message_status(twilio, other, "delivered").status == "delivered"
    assert message_status(twilio, other, "teleported").status == "delivered"


# --- calls -----------------------------------------------------------------------------------------


def test_call_statuses_move_forward_and_record_duration(db, twilio):
    sid = "CA" + "5" * 32
    call_status(twilio, sid, "initiated")
    call_status(twilio, sid, "ringing")
    call_status(twilio, sid, "in-progress")
    done = call_status(twilio, sid, "completed", CallDuration="42")
    assert (done.status, done.duration) == ("completed", 42)
    assert call_status(twilio, sid, "ringing").status == "completed"
    assert call_status(twilio, sid, "busy", CallDuration="0").duration == 42  # terminal stays
    assert CallLog.objects.count() == 1


def test_call_callbacks_complete_the_inbound_log_row(live_demo, twilio):
    sid = "CA" + "6" * 32
    twilio.post(
        "/twilio/voice/", {"To": OURS, "From": CALLER, "CallSid": sid, "CallStatus": "ringing"}
    )
    log = call_status(twilio, sid, "completed", CallDuration="7", Direction="inbound")
    assert (log.direction, log.flow.slug, log.duration) == ("inbound", "main-menu", 7)


def test_an_unknown_call_sid_gets_a_record(db, twilio):
    log = call_status(twilio, "CA" + "7" * 32, "no-answer", Direction="outbound-api")
    assert (log.direction, log.status) == ("outbound", "no-answer")
    inbound = call_status(twilio, "CA" + "8" * 32, "completed", Direction="inbound")
    assert inbound.direction == "inbound"


def test_an_outbound_call_moves_from_pending_to_completed(db, twilio, settings):
    PhoneNumber.objects.create(number=OURS)
    log = services.make_call(to=CALLER, url="https://x.example/twiml")
    assert log.status == "queued"
    assert call_status(twilio, log.sid, "completed", CallDuration="3").status == "completed"


def test_callbacks_without_a_sid_or_status_change_nothing(db, twilio):
    root = parse_twiml(twilio.post("/twilio/status/", {"Foo": "bar"}))
    assert verbs(root) == []
    parse_twiml(twilio.post("/twilio/status/", {"CallSid": "CA1"}))
    assert not CallLog.objects.exists() and not MessageLog.objects.exists()


def test_status_callbacks_must_be_signed(db, client):
    response = client.post(
        "/twilio/status/",
        urlencode({"CallSid": "CA1", "CallStatus": "completed"}),
        content_type=FORM,
    )
    assert response.status_code == 403 and not CallLog.objects.exists()


# --- what a callback costs, and the races between its statements ------------------------------


def record_message_status(sid, status):
    statuses.record_status(
        MessageLog,
        sid=sid,
        status=status,
        defaults={"from_number": OURS, "to_number": CALLER, "direction": "outbound"},
        changes={},
    )


def test_a_duplicate_or_late_callback_costs_two_queries(sent, django_assert_num_queries):
    with django_assert_num_queries(1):
        record_message_status(sent.sid, "delivered")
    with django_assert_num_queries(2):  # the UPDATE finds nothing to move; one SELECT says why
        record_message_status(sent.sid, "delivered")
    with django_assert_num_queries(2):
        record_message_status(sent.sid, "sent")
    assert MessageLog.objects.get(sid=sent.sid).status == "delivered"


def create_row_after(statement_start):
    """While active, the first statement starting with `statement_start` is followed at once
    by another request's work: the row is created, at "sent"."""
    done = []

    def wrapper(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not done and sql.lstrip().upper().startswith(statement_start):
            done.append(sql)
            MessageLog.objects.create(
                sid="SM" + "2" * 32, status="sent", direction="outbound", to_number=CALLER
            )
        return result

    return connection.execute_wrapper(wrapper), done


@pytest.mark.parametrize("between", ["UPDATE", "SELECT"])
def test_a_row_created_by_a_concurrent_callback_is_still_advanced(db, between):
    # "between": the row appears after the first UPDATE (the SELECT finds it, at an earlier
    # status) or after the SELECT (the INSERT meets the unique SID).
    wrapper, done = create_row_after(between)
    with wrapper:
        record_message_status("SM" + "2" * 32, "delivered")
    assert done
    assert list(MessageLog.objects.values_list("status", flat=True)) == ["delivered"]


# --- the order itself -------------------------------------------------------------------------------


def test_earlier_statuses():
    ranks = statuses.MESSAGE_RANKS
    assert "sent" in statuses.earlier_statuses(ranks, "delivered")
    assert "delivered" not in statuses.earlier_statuses(ranks, "sent")
    assert "undelivered" not in statuses.earlier_statuses(ranks, "delivered")
    ours = ["", statuses.PENDING, statuses.SUBMITTING]  # before Twilio has the message
    assert statuses.earlier_statuses(ranks, "mystery") == ours
    assert "delivered" in statuses.statuses_that_block(ranks, "sent")
    assert "mystery" not in statuses.statuses_that_block(ranks, "queued")
    assert set(statuses.statuses_that_block(ranks, "mystery")) == set(ranks) - set(ours)
    calls = statuses.CALL_RANKS
    assert statuses.earlier_statuses(calls, "completed") == [
        "",
        statuses.PENDING,
        statuses.SUBMITTING,  # a campaign's call while its worker asks Twilio
        "queued",
        "initiated",
        "ringing",
        "in-progress",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
def test_concurrent_out_of_order_callbacks_end_at_the_latest_status():
    from django.db import connections
    from django.test import Client

    from tests.conftest import SignedClient

    sid = "SM" + "4" * 32
    order = ["queued", "sent", "delivered", "sending", "sent", "queued", "delivered", "accepted"]
    barrier = threading.Barrier(len(order))

    def deliver(status):
        try:
            barrier.wait()
            message_status(SignedClient(Client()), sid, status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(s,)) for s in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(MessageLog.objects.values_list("status", flat=True)) == ["delivered"]
