"""Inbound call rows (telephony/logs/calls.py): once per CallSid, merged with what status
callbacks wrote first, by a background thread that does not die, and at exit."""

import logging
import os
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError
from django.utils import timezone

from telephony.logs import calls as calllog
from telephony.logs.calls import BatchWriter, InboundCall
from telephony.models import CallLog
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish

CALLER = "+14155551234"
DEMO = "+15005550006"


def call(i: int, flow_id=None, status="ringing") -> InboundCall:
    return InboundCall.of(sid=f"CA{i:032d}", from_=CALLER, to=DEMO, status=status, flow_id=flow_id)


def wait_for(condition, seconds=10.0):
    """Poll `condition` until it holds. On the in-memory SQLite test database (shared cache)
    a read while the writer thread writes is refused ("table is locked"): ask again."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except OperationalError:
            pass
        time.sleep(0.02)
    return condition()


# --- the INSERT ----------------------------------------------------------------------


@pytest.mark.django_db
def test_text_arrives_as_sent():
    odd = 'client:Zoë "the \\boss"'
    calllog.write([InboundCall.of(sid="CA1", from_=odd, to="12345", status="", flow_id=None)])
    row = CallLog.objects.get()
    assert (row.from_number, row.to_number) == (odd, "12345")


@pytest.mark.django_db
def test_write_inserts_each_sid_once_even_twice_in_a_batch():
    flow = make_flow("menu")
    calllog.write([call(1, flow.pk), call(2), call(1, flow.pk)])
    rows = {row.sid: row for row in CallLog.objects.all()}
    assert len(rows) == 2
    assert all(abs(timezone.now() - row.created_at) < timedelta(minutes=1) for row in rows.values())
    assert rows[call(1).sid].flow == flow
    assert rows[call(1).sid].direction == "inbound"
    assert rows[call(1).sid].from_number == CALLER
    assert rows[call(2).sid].flow is None
    assert rows[call(2).sid].status == "ringing"


@pytest.mark.django_db
def test_a_row_a_status_callback_created_first_gains_the_flow_and_keeps_its_status():
    flow = make_flow("menu")
    CallLog.objects.create(sid=call(1).sid, direction="inbound", status="completed", duration=42)
    calllog.write([call(1, flow.pk)])
    row = CallLog.objects.get()
    assert (row.flow, row.status, row.duration) == (flow, "completed", 42)


@pytest.mark.django_db
def test_a_flow_deleted_before_the_write_leaves_the_row_without_it():
    flow = make_flow("gone")
    flow_id = flow.pk
    flow.delete()
    calllog.write([call(1, flow_id)])
    assert CallLog.objects.get().flow is None


@pytest.mark.django_db
def test_values_are_cut_to_the_columns():
    calllog.write(
        [InboundCall.of(sid="CA" + "9" * 40, from_="x" * 300, to="", status="", flow_id=None)]
    )
    row = CallLog.objects.get()
    assert (len(row.sid), len(row.from_number), row.status) == (34, 128, "ringing")


# --- the writer ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_flush_writes_everything_queued_in_batches():
    writer = BatchWriter(delay=60, max_batch=7, max_pending=1000)
    try:
        for i in range(20):
            writer.submit(call(i))
        assert CallLog.objects.count() == 0  # queued: the thread waits 60 s to batch
        assert writer.flush()
        assert CallLog.objects.count() == 20
    finally:
        writer.close(timeout=1)


@pytest.mark.django_db(transaction=True)
def test_the_thread_writes_a_batch_shortly_after_the_first_call():
    writer = BatchWriter(delay=0.05, max_batch=500, max_pending=1000)
    try:
        for i in range(50):
            writer.submit(call(i))
        assert wait_for(lambda: CallLog.objects.count() == 50)
        assert not writer.pending
    finally:
        writer.close()


@pytest.mark.django_db
def test_a_database_failure_keeps_the_rows_and_a_later_write_succeeds(monkeypatch, caplog):
    real_write, failures = calllog.write, [OperationalError("database is down")]

    def flaky(calls, **options):
        if failures:
            raise failures.pop()
        real_write(calls, **options)

    monkeypatch.setattr(calllog, "write", flaky)
    writer = BatchWriter(delay=60, max_batch=500, max_pending=1000)
    try:
        writer.submit(call(1))
        writer.submit(call(2))
        assert writer.flush() is False
        assert "Could not write 2 call log row(s); will retry" in caplog.text
        assert len(writer.pending) == 2
        assert writer.flush()
        assert CallLog.objects.count() == 2
    finally:
        writer.close(timeout=1)


@pytest.mark.django_db
def test_beyond_max_pending_new_rows_are_dropped_counted_and_said(monkeypatch, caplog):
    def down(calls, **options):
        raise OperationalError("database is down")

    monkeypatch.setattr(calllog, "write", down)
    writer = BatchWriter(delay=60, max_batch=500, max_pending=3)
    try:
        with caplog.at_level(logging.ERROR, logger="telephony.logs.calls"):
            for i in range(5):
                writer.submit(call(i))
            writer.flush()
        assert [c.sid for c in writer.pending] == [call(i).sid for i in (0, 1, 2)]
        assert writer.dropped == 2
        assert "Call log row dropped" in caplog.text
        assert call(4).sid in caplog.text  # the row itself is in the log
    finally:
        monkeypatch.undo()
        writer.close(timeout=1)


@pytest.mark.django_db
def test_a_row_the_database_refuses_is_logged_and_dropped_the_others_written(monkeypatch, caplog):
    real_write = calllog.write

    def refuses_one(calls, **options):
        if any(c.sid == call(2).sid for c in calls):
            raise ValueError("this row cannot be stored")
        real_write(calls, **options)

    monkeypatch.setattr(calllog, "write", refuses_one)
    writer = BatchWriter(delay=60, max_batch=500, max_pending=100)
    try:
        for i in range(1, 4):
            writer.submit(call(i))
        with caplog.at_level(logging.ERROR, logger="telephony.logs.calls"):
            assert writer.flush()
        assert set(CallLog.objects.values_list("sid", flat=True)) == {call(1).sid, call(3).sid}
        assert f"dropped: {{'sid': '{call(2).sid}'" in caplog.text
        assert not writer.pending
    finally:
        monkeypatch.undo()
        writer.close(timeout=1)


def test_unstorable_characters_are_removed_from_every_field():
    row = InboundCall.of(
        sid="CA\x00123", from_="+1415\x00555\ud800", to="+1500\x00", status="ring\x00ing", flow_id=1
    )
    assert (row.sid, row.from_number, row.to_number, row.status) == (
        "CA123",
        "+1415555",
        "+1500",
        "ringing",
    )


@pytest.mark.django_db(transaction=True)
def test_the_thread_survives_an_unexpected_error_and_writes_later(monkeypatch, caplog):
    real_write_batch, failures = calllog.write_batch, [RuntimeError("a bug")]

    def buggy(batch):
        if failures:
            raise failures.pop()
        return real_write_batch(batch)

    monkeypatch.setattr(calllog, "write_batch", buggy)
    writer = BatchWriter(delay=0.02, max_batch=500, max_pending=100)
    try:
        writer.submit(call(1))
        assert wait_for(lambda: CallLog.objects.filter(sid=call(1).sid).exists())
        assert "Call log writer failed; will retry" in caplog.text
        assert writer.thread.is_alive()
    finally:
        writer.close()


@pytest.mark.django_db(transaction=True)
def test_a_dead_writer_thread_is_started_again_by_the_next_call(caplog):
    writer = BatchWriter(delay=0.02, max_batch=500, max_pending=100)
    try:
        writer.submit(call(1))
        assert wait_for(lambda: CallLog.objects.count() == 1)
        writer.stopping.set()  # what a thread killed by anything at all looks like
        writer.wake.set()
        writer.thread.join(2)
        assert not writer.thread.is_alive()
        writer.submit(call(2))
        assert writer.thread.is_alive()
        assert wait_for(lambda: CallLog.objects.count() == 2)
        assert "had stopped; starting it again" in caplog.text
    finally:
        writer.close()


# --- through the voice webhook -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_voice_webhook_answers_then_the_row_appears(twilio, settings):
    settings.TELEPHONY_CALL_LOG_WRITES = "deferred"
    flow = make_flow("menu", steps=[{"verb": "say", "text": "Hello."}])
    make_number(DEMO, flow=flow)
    publish()
    for _retry in range(2):  # Twilio retrying the same call
        root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "CallSid": "CA1"}))
        assert verbs(root) == ["Say"]
    try:
        assert wait_for(lambda: CallLog.objects.filter(sid="CA1", flow=flow).exists())
        assert calllog.flush()
        assert CallLog.objects.count() == 1
    finally:
        calllog.writer().close()


def test_rows_still_queued_are_written_when_the_process_exits(tmp_path: Path):
    """A graceful stop (gunicorn's SIGTERM, worker recycling) ends with sys.exit: the
    queue is written by the atexit hook, however long the batching delay."""
    database = tmp_path / "exit.sqlite3"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{database}",
        TELEPHONY_CALL_LOG_WRITES="deferred",
        TELEPHONY_CALL_LOG_DELAY="5",
    )
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=root, env=env, check=True
    )
    script = textwrap.dedent(
        """
        import django, sys
        django.setup()
        from telephony.logs import calls as calllog
        from telephony.models import CallLog
        for i in range(25):
            calllog.record_inbound_call(
                sid=f"CA{i:032d}", from_="+14155551234", to="+15005550006",
                status="ringing", flow_id=None,
            )
        print("queued", CallLog.objects.count())
        sys.exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "queued 0"
    count = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from telephony.models import CallLog; "
            "print(CallLog.objects.count())",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert count.stdout.strip() == "25"


@pytest.mark.django_db(transaction=True)  # foreign keys are checked when a transaction commits
def test_a_flow_deleted_while_queued_does_not_cost_the_batch_its_rows():
    kept, gone = make_flow("kept"), make_flow("gone")
    gone_id = gone.pk
    writer = BatchWriter(delay=60, max_batch=500, max_pending=1000)
    try:
        writer.submit(call(1, kept.pk))
        writer.submit(call(2, gone_id))
        gone.delete()
        assert writer.flush()
    finally:
        writer.close(timeout=1)
    flows = dict(CallLog.objects.values_list("sid", "flow"))
    assert flows == {call(1).sid: kept.pk, call(2).sid: None}


@pytest.mark.django_db(transaction=True)
def test_a_warm_voice_webhook_makes_no_query_when_deferred(
    twilio, settings, django_assert_num_queries
):
    settings.TELEPHONY_CALL_LOG_WRITES = "deferred"
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 60  # FlowsVersion read once, when warming
    flow = make_flow("menu", steps=[{"verb": "say", "text": "Hello."}])
    make_number(DEMO, flow=flow)
    publish()
    try:
        twilio.post("/twilio/voice/", {"To": DEMO, "CallSid": "CA1"})  # warms the cache
        with django_assert_num_queries(0):
            root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "CallSid": "CA2"}))
        assert verbs(root) == ["Say"]
        assert wait_for(lambda: CallLog.objects.filter(sid__in=["CA1", "CA2"]).count() == 2)
    finally:
        calllog.writer().close()
