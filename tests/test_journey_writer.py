"""Call events written as durably as the call rows: by the same background writer
(telephony/logs/calls.py, logs/writer.py), in the same batches, kept through a database
outage, and settled when the call ends even if they came before the call's row."""

import logging
import math
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from telephony.logs import calls as calllog
from telephony.logs import events as callevents
from telephony.logs import inserts, journeys
from telephony.logs.calls import BatchWriter, InboundCall
from telephony.logs.events import Event, Journey
from telephony.models import CallEvent, CallLog, CallOutcome
from tests.conftest import parse_twiml
from tests.factories import step_path
from tests.test_calllog import wait_for

Kind = CallEvent.Kind
DEMO = "+15005550006"
CALLER = "+14155551234"


def call_row(sid):
    return InboundCall.of(sid=sid, from_=CALLER, to=DEMO, status="ringing", flow_id=None)


def journey(sid, *happened, seconds=0):
    at = timezone.now() + timedelta(seconds=seconds)
    return Journey(sid, at, 1, tuple(happened))


@pytest.mark.django_db(transaction=True)
def test_a_deferred_call_writes_its_events_with_its_row(live_demo, twilio, settings):
    settings.TELEPHONY_CALL_LOG_WRITES = "deferred"
    try:
        params = {"CallSid": "CA1", "From": CALLER, "To": DEMO}
        parse_twiml(twilio.post("/twilio/voice/", params))
        path = step_path("main-menu", "gather", "gather")
        parse_twiml(twilio.post(path, {**params, "Digits": "1"}))
        parse_twiml(
            twilio.post(
                step_path("sales", "dial", "dial"), {**params, "DialCallStatus": "no-answer"}
            )
        )
        assert calllog.flush()
        # 1 + 2 + 3: what each answer did (flows/journey.told), the input and the Dial's end
        assert wait_for(lambda: CallEvent.objects.filter(call_sid="CA1").count() == 6)
        assert CallLog.objects.get(sid="CA1").outcome == CallOutcome.MISSED
    finally:
        calllog.writer().close()


@pytest.mark.django_db
def test_a_database_outage_keeps_the_events_until_it_is_back(monkeypatch, caplog):
    real_write, failures = callevents.write, [OperationalError("database is down")] * 2

    def flaky(batch):
        if failures:
            raise failures.pop()
        real_write(batch)

    monkeypatch.setattr(callevents, "write", flaky)
    writer = BatchWriter(delay=60, max_batch=500, max_pending=1000)
    try:
        writer.submit(call_row("CA1"))
        writer.submit(journey("CA1", Event(Kind.CALL_STARTED), Event(Kind.PROMPT, try_number=1)))
        writer.submit(journey("CA1", Event(Kind.VOICEMAIL), seconds=1))
        assert writer.flush() is False
        assert writer.flush() is False
        assert "Could not write 3 call log row(s); will retry" in caplog.text
        assert len(writer.pending) == 3
        assert CallLog.objects.count() == 0  # one transaction: the call row waits too
        assert writer.flush()
    finally:
        writer.close(timeout=1)
    assert list(CallEvent.objects.order_by("at", "pk").values_list("kind", flat=True)) == [
        Kind.CALL_STARTED,
        Kind.PROMPT,
        Kind.VOICEMAIL,
    ]
    assert CallLog.objects.get(sid="CA1").outcome == CallOutcome.VOICEMAIL


@pytest.mark.django_db
def test_events_that_cannot_be_stored_are_logged_and_dropped_the_rest_written(monkeypatch, caplog):
    real_write = callevents.write

    def refuses_one(batch):
        if any(record.call_sid == "CA2" for record in batch):
            raise ValueError("these events cannot be stored")
        real_write(batch)

    monkeypatch.setattr(callevents, "write", refuses_one)
    writer = BatchWriter(delay=60, max_batch=500, max_pending=100)
    try:
        for sid in ("CA1", "CA2", "CA3"):
            writer.submit(call_row(sid))
            writer.submit(journey(sid, Event(Kind.CALL_STARTED, detail=f"call {sid}")))
        with caplog.at_level(logging.ERROR, logger="telephony.logs.calls"):
            assert writer.flush()
    finally:
        writer.close(timeout=1)
    assert set(CallEvent.objects.values_list("call_sid", flat=True)) == {"CA1", "CA3"}
    assert CallLog.objects.count() == 3  # the call rows are not the events' hostages
    assert "dropped: {'call_sid': 'CA2'" in caplog.text
    assert writer.dropped == 1


@pytest.mark.django_db
def test_beyond_max_pending_events_are_dropped_and_said(monkeypatch, caplog):
    def down(batch):
        raise OperationalError("database is down")

    monkeypatch.setattr(callevents, "write", down)
    writer = BatchWriter(delay=60, max_batch=500, max_pending=2)
    try:
        with caplog.at_level(logging.ERROR, logger="telephony.logs.calls"):
            for i in range(3):
                writer.submit(journey(f"CA{i}", Event(Kind.CALL_STARTED)))
        assert writer.dropped == 1
        assert Journey.LOST in caplog.text and "CA2" in caplog.text
    finally:
        monkeypatch.undo()
        writer.close(timeout=1)


@pytest.mark.django_db
def test_events_written_before_the_call_row_count_when_the_call_ends():
    """Another worker's writer may write a call's events before this one writes its row:
    their outcome then had no row to land on. The end of the call settles it."""
    callevents.write([journey("CA1", Event(Kind.DIAL_ENDED, option="completed"))])
    calllog.write([call_row("CA1")])
    assert CallLog.objects.get(sid="CA1").outcome == ""
    callevents.write([journey("CA1", Event(Kind.CALL_ENDED, option="completed"), seconds=60)])
    assert CallLog.objects.get(sid="CA1").outcome == CallOutcome.ANSWERED
    hung_up = CallEvent.objects.get(call_sid="CA1", kind=Kind.HUNG_UP)
    assert hung_up.option == journeys.AFTER_CONVERSATION


@pytest.mark.django_db
def test_a_call_ending_reads_its_history_once_for_the_whole_batch(django_assert_num_queries):
    for i in range(5):
        calllog.write([call_row(f"CA{i}")])
        callevents.write([journey(f"CA{i}", Event(Kind.PROMPT, try_number=1))])
    ends = [
        journey(f"CA{i}", Event(Kind.CALL_ENDED, option="completed"), seconds=9) for i in range(5)
    ]
    with django_assert_num_queries(3):  # the history, the INSERT, one UPDATE (abandoned)
        callevents.write(ends)
    assert CallLog.objects.filter(outcome=CallOutcome.ABANDONED).count() == 5


# --- the INSERT compiled once (telephony/logs/inserts.py) --------------------------------------


@pytest.mark.django_db
def test_a_call_row_is_the_row_bulk_create_would_make():
    calllog.write([call_row("CA1")])
    theirs = {**call_row("CA2").row(), "sid": "CA2"}
    CallLog.objects.bulk_create([CallLog(**theirs)])
    ours, theirs = (
        {k: v for k, v in row.items() if k not in ("id", "sid", "created_at", "updated_at")}
        for row in CallLog.objects.order_by("sid").values()
    )
    assert ours == theirs
    row = CallLog.objects.get(sid="CA1")
    assert abs(row.created_at - timezone.now()) < timedelta(minutes=1)
    assert row.created_at == row.updated_at


@pytest.mark.django_db
def test_many_events_go_in_few_statements(django_assert_num_queries):
    many = [
        journey(f"CA{i}", *(Event(Kind.PROMPT, detail=f"{i}.{n}") for n in range(5)))
        for i in range(50)
    ]
    if connection.vendor == "postgresql":  # UNNEST, a statement per 100 rows
        statements = math.ceil(250 / inserts._chunk(CallEvent, "default"))
    else:  # the one-row statement for all 250 through executemany()
        statements = 1
    with django_assert_num_queries(statements):
        callevents.write(many)
    assert CallEvent.objects.count() == 250
    first = CallEvent.objects.filter(call_sid="CA7").order_by("pk").first()
    assert (first.detail, first.release, first.kind) == ("7.0", 1, Kind.PROMPT)
    assert abs(first.at - timezone.now()) < timedelta(minutes=1)
