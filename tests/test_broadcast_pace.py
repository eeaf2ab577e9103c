"""Broadcast speed and pace: the E.164 fast path, block rules at import, a batch's slots
reserved at once, and the slow-down after Twilio says a sender's queue is full (21611 on
sending, 30001 in a signed status callback), seen in what the fake Twilio receives."""

import random
import threading
import time

import phonenumbers
import pytest
from django.db import connection
from django.db.models import Count

from telephony.broadcasts import queue_full, recipients, sending, services
from telephony.logs import statuses
from telephony.models import (
    Broadcast,
    BroadcastRecipient,
    CallerRule,
    MessageLog,
    OptOut,
    PhoneNumber,
    SendPace,
)
from telephony.phone_numbers import e164
from telephony.sending import pace
from tests.conftest import run_tasks

SENDER = "+15005550006"
State = BroadcastRecipient.State
JITTER = 0.02  # seconds a request may take to reach the fake Twilio on a busy machine


def csv_of(count, start=0):
    return "number,name\n" + "".join(f"+1415555{i:04d},N{i}\n" for i in range(start, count))


def make(number, csv_text, **options):
    parsed = recipients.parse_csv(csv_text, needed=["name"])
    return services.create_broadcast(
        name="t", body="Hi {name}", recipients=parsed, phone_number=number, **options
    )


def arrivals(fake):
    return [r for r in fake.requests_to("/Messages.json") if r.answered == 201]


def gaps(times):
    return [b - a for a, b in zip(times, times[1:], strict=False)]


# --- importing -----------------------------------------------------------------------------


def _parser(text, region):
    """What phone_numbers.e164 answered before its fast path: phonenumbers alone."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_e164_text_takes_the_fast_path_and_accepts_exactly_what_the_parser_does():
    rng = random.Random(17)
    codes = [1, 1, 1, 7, 20, 33, 39, 44, 49, 52, 55, 61, 81, 86, 91, 261, 672, 880, 998]
    samples = [
        f"+{rng.choice(codes)}{rng.randint(0, 10 ** rng.randint(4, 13))}" for _ in range(20000)
    ]
    samples += [
        "+14155550100",  # valid US
        "+11415555010",  # NANP numbers never start with 1: the parser strips it
        "+390612345678",  # Italy keeps its leading zero
        "+2612575519",  # Madagascar: the parser rewrites a national prefix
        "+67211269",  # Norfolk Island, likewise
        "+999123456",  # no such country code
        "+4915123456789",
    ]
    valid = 0
    for text in samples:
        for region in (None, "US"):
            assert e164(text, region=region) == _parser(text, region), text
        valid += _parser(text, None) is not None
    assert valid > 1000  # the sample holds plenty of real numbers, not only rejects


def test_invalid_numbers_in_e164_shape_are_still_reported_with_their_line():
    parsed = recipients.parse_csv(
        "number,name\n+14155550100,A\n+14150000000,B\n+1415555010,C\n+19995550100,D\n"
    )
    assert [n for n, _ in parsed.rows] == ["+14155550100"]
    assert [(p.line, p.value) for p in parsed.problems] == [
        (3, "+14150000000"),
        (4, "+1415555010"),
        (5, "+19995550100"),
    ]


def test_blocked_numbers_are_skipped_and_counted_at_import(db):
    number = PhoneNumber.objects.create(number=SENDER, send_rate=50)
    other = PhoneNumber.objects.create(number="+15005550007")
    OptOut.objects.create(number="+14155550000")
    CallerRule.objects.create(pattern="+14155550001")  # every number, texts too
    CallerRule.objects.create(pattern="+1415555001*", phone_number=number)  # a prefix
    CallerRule.objects.create(pattern="+14155550002", phone_number=other)  # not our sender
    CallerRule.objects.create(pattern="+14155550003", applies_to_sms=False)  # calls only
    created = make(number, csv_of(12), start=False)
    assert (created.queued, created.opted_out, created.blocked) == (12 - 1 - 3, 1, 3)
    skipped = dict(
        BroadcastRecipient.objects.filter(state=State.SKIPPED).values_list("number", "skip_reason")
    )
    assert sorted(skipped) == ["+14155550000", "+14155550001", "+14155550010", "+14155550011"]
    assert skipped["+14155550001"].startswith("blocked")
    assert skipped["+14155550000"].startswith("opted out")


# --- the pace: blocks ----------------------------------------------------------------------


def test_a_block_hands_out_its_slots_in_order_and_never_early():
    block = pace.Block(start=100.0, interval=0.1, end=100.5)
    assert block.next_slot(now=99.0) == 100.0  # early: wait for the slot
    assert block.next_slot(2, now=99.0) == pytest.approx(100.1)  # two segments
    assert block.next_slot(now=99.0) == pytest.approx(100.3)
    assert block.next_slot(now=99.0) == pytest.approx(100.4)
    assert block.next_slot(now=99.0) is None  # full


def test_a_late_worker_loses_the_time_rather_than_catching_up_in_a_burst():
    block = pace.Block(start=100.0, interval=0.1, end=101.0)
    assert block.next_slot(now=100.0) == 100.0
    # 0.35 s late for the next slot (100.1): it may make up TOLERANCE of what it lost,
    # not all of it, so the slots after it keep their spacing from there.
    slot = block.next_slot(now=100.45)
    assert slot == pytest.approx(100.45 - pace.Block.TOLERANCE)
    assert block.next_slot(now=100.45) == pytest.approx(slot + 0.1)
    assert block.next_slot(now=100.45) == pytest.approx(slot + 0.2)
    assert block.behind == pytest.approx(0.35 - pace.Block.TOLERANCE) and block.too_slow
    on_time = pace.Block(start=100.0, interval=0.1, end=101.0)
    late = pace.Block.TOLERANCE * 0.8  # a late wake-up, within the tolerance
    assert [on_time.next_slot(now=100.0 + 0.1 * i + late) for i in range(3)] == [
        pytest.approx(100.0 + 0.1 * i) for i in range(3)
    ]
    assert on_time.behind == 0 and not on_time.too_slow


def _simulate(block, lateness, rng):
    """Send through `block` as a worker that comes back late by up to `lateness`."""
    sends, expected = [], block.start
    while True:
        now = expected + rng.uniform(0, lateness)
        slot = block.next_slot(now=now)
        if slot is None:
            return sends
        sends.append(max(slot, now))
        expected = slot + block.interval


@pytest.mark.parametrize("lateness", [0.0, pace.Block.TOLERANCE, 5 * pace.Block.TOLERANCE])
def test_no_second_holds_more_than_the_rate_even_with_the_tolerance(db, settings, lateness):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    block = pace.reserve_block(SENDER, rate=50, costs=[1] * 200)
    sends = _simulate(block, lateness, random.Random(3))
    for i, start in enumerate(sends):
        assert sum(1 for t in sends[i:] if t < start + 1.0) <= 50
    rate = (len(sends) - 1) / (sends[-1] - sends[0])
    if lateness <= pace.Block.TOLERANCE:  # made up: the pace is kept
        assert len(sends) == 200 and rate >= 50 * 0.99
    else:  # lost: slower, never faster
        assert rate < 50


def test_the_first_message_of_a_block_always_goes_however_late():
    block = pace.Block(start=100.0, interval=0.1, end=100.1)
    assert block.next_slot(now=105.0) == pytest.approx(105.0 - pace.Block.TOLERANCE)
    assert block.next_slot(now=105.0) is None


def test_blocks_of_two_workers_follow_each_other(db, settings):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    first = pace.reserve_block(SENDER, rate=50, costs=[1] * 50)
    second = pace.reserve_block(SENDER, rate=50, costs=[1, 2, 1])
    stretch = 1 + pace.Block.HEADROOM  # room for the tolerance (below)
    assert first.interval == pytest.approx(0.02 * stretch)
    assert first.end - first.start == pytest.approx(1.0 * stretch)
    assert second.start == pytest.approx(first.end)
    assert second.end - second.start == pytest.approx(4 * 0.02 * stretch)
    assert pace.reserve(SENDER, rate=50) == pytest.approx(second.end)


def test_a_slowed_down_sender_gets_slots_twice_as_long(db, settings):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    pace.reserve(SENDER, rate=10)
    pace.slow_down(SENDER, seconds=60)
    assert pace.slowed(SENDER) == 0.5
    slots = [pace.reserve(SENDER, rate=10) for _ in range(3)]
    assert gaps(slots) == [pytest.approx(0.2)] * 2
    block = pace.reserve_block(SENDER, rate=10, costs=[1, 1])
    assert block.interval == pytest.approx(0.2 * (1 + pace.Block.HEADROOM))
    pace.slow_down(SENDER, seconds=60)  # again: the period starts over, no slower
    assert pace.slowed(SENDER) == 0.5
    SendPace.objects.filter(key=f"sender:{SENDER}").update(slow_until=time.time() - 1)
    assert pace.slowed(SENDER) == 1.0  # over: full pace again
    later = [pace.reserve(SENDER, rate=10) for _ in range(2)]
    assert gaps(later) == [pytest.approx(0.1)]


# --- 21611 and 30001: slow down ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_30001_status_callback_slows_the_sender_and_fails_the_recipient(
    fake_twilio, twilio, monkeypatch, settings
):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    monkeypatch.setattr(queue_full, "HOLD_SECONDS", 0.5)
    number = PhoneNumber.objects.create(number=SENDER, send_rate=10)
    first = make(number, csv_of(5)).broadcast
    run_tasks()
    before = [r.at for r in arrivals(fake_twilio)]
    # 10/s: 0.1 s apart (a late worker may use half an interval of what it lost; and
    # 20 ms for the request's own jitter on a busy machine)
    assert len(before) == 5 and min(gaps(before)) >= 0.05 - JITTER
    assert before[-1] - before[0] >= 4 * 0.1 - 0.05 - JITTER

    row = first.recipients.select_related("message").order_by("pk")[2]
    params = {
        "MessageSid": row.message.sid,
        "MessageStatus": "failed",
        "ErrorCode": "30001",
        "From": SENDER,
        "To": row.number,
    }
    assert twilio.post("/twilio/status/", params).status_code == 200
    reported_at = time.time()
    row.refresh_from_db()
    assert (row.state, row.error_code) == (State.FAILED, 30001)
    assert "queue overflow" in row.error_message and "half speed" in row.error_message
    assert MessageLog.objects.get(pk=row.message_id).status == "failed"
    progress = services.progress(first)
    assert (progress["counts"]["failed"], progress["counts"]["sent"]) == (1, 4)
    assert twilio.post("/twilio/status/", params).status_code == 200  # a retry: harmless
    assert BroadcastRecipient.objects.filter(state=State.FAILED).count() == 1

    make(number, csv_of(10, start=5))  # the next broadcast from that sender
    run_tasks()
    after = [r.at for r in arrivals(fake_twilio)][5:]
    assert len(after) == 5
    assert after[0] >= reported_at + 0.5 - JITTER  # held back first
    assert min(gaps(after)) >= 0.1 - JITTER  # then at half of 10/s: 0.2 s apart
    assert after[-1] - after[0] >= 4 * 0.2 - 0.1 - JITTER  # at 10/s: 0.4 s
    row = SendPace.objects.get(key=f"sender:{SENDER}")
    assert row.slow_factor == 0.5 and row.slow_until >= reported_at + 600 - 5
    assert Broadcast.objects.filter(state=Broadcast.State.DONE).count() == 2


@pytest.mark.django_db(transaction=True)
def test_other_error_codes_in_a_status_callback_change_no_pace(fake_twilio, twilio, settings):
    number = PhoneNumber.objects.create(number=SENDER, send_rate=10)
    make(number, csv_of(1))
    run_tasks()
    row = BroadcastRecipient.objects.select_related("message").get()
    params = {"MessageSid": row.message.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert twilio.post("/twilio/status/", params).status_code == 200
    row.refresh_from_db()
    assert row.state == State.SENT and row.delivery == "undelivered"
    assert pace.slowed(SENDER) == 1.0


@pytest.mark.django_db(transaction=True)
def test_21611_on_sending_slows_the_sender_and_the_recipient_is_texted_later(
    fake_twilio, monkeypatch, settings
):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    monkeypatch.setattr(sending, "QUEUE_FULL_PAUSE", 0.3)
    number = PhoneNumber.objects.create(number=SENDER, send_rate=20)
    fake_twilio.fail_next(400, 21611, "Queue full", path_contains="Messages")
    make(number, csv_of(3))
    for _ in range(20):
        run_tasks()
        if Broadcast.objects.get().state == Broadcast.State.DONE:
            break
        time.sleep(0.1)
    assert Broadcast.objects.get().state == Broadcast.State.DONE
    assert pace.slowed(SENDER) == 0.5
    accepted = sorted(r.field("To") for r in arrivals(fake_twilio))
    assert accepted == [f"+1415555{i:04d}" for i in range(3)]  # each once
    refused = MessageLog.objects.get(error_code=21611)
    assert refused.status == statuses.FAILED
    assert set(BroadcastRecipient.objects.values_list("state", flat=True)) == {State.SENT}
    times = [r.at for r in arrivals(fake_twilio)]
    assert times[-1] - times[0] >= 2 * 0.1 - 0.05 - JITTER  # half of 20/s after the refusal


# --- exactly once, batch by batch ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_paused_batch_leaves_no_pending_message_behind(fake_twilio, settings):
    number = PhoneNumber.objects.create(number=SENDER, send_rate=50)
    created = make(number, csv_of(12))
    broadcast = created.broadcast
    batch = sending.record_attempts(broadcast, sending.claim(broadcast, 12))
    assert MessageLog.objects.filter(status=statuses.PENDING).count() == 12
    sending._release(batch[4:])  # what a pause after four messages does
    assert MessageLog.objects.filter(status=statuses.PENDING).count() == 4
    assert broadcast.recipients.filter(state=State.QUEUED, message=None).count() == 8
    sending._release(batch[:4])
    run_tasks()
    assert sorted(r.field("To") for r in arrivals(fake_twilio)) == [
        f"+1415555{i:04d}" for i in range(12)
    ]
    assert MessageLog.objects.count() == 12  # one attempt each, none left pending
    assert not MessageLog.objects.filter(status=statuses.PENDING).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="threads need a real server")
@pytest.mark.django_db(transaction=True)
def test_cancelling_mid_batch_skips_what_the_worker_held(fake_twilio, settings):
    number = PhoneNumber.objects.create(number=SENDER, send_rate=50)
    broadcast = make(number, csv_of(30)).broadcast
    hold = fake_twilio.hold_next(path_contains="Messages")  # the first send waits...
    done = []

    def work():
        try:
            done.append(sending.run(broadcast.pk))
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    assert hold.arrived.wait(10)
    services.cancel_broadcast(broadcast=broadcast)  # ...while staff cancel
    hold.release()
    worker.join(10)
    assert done and done[0].outcome == "stopped"
    states = dict(broadcast.recipients.values_list("state").annotate(n=Count("pk")).order_by())
    sent = len(arrivals(fake_twilio))
    assert 1 <= sent <= 5  # the pause check comes every five messages
    assert states == {State.SENT: sent, State.SKIPPED: 30 - sent}
    assert not MessageLog.objects.filter(status=statuses.PENDING).exists()


@pytest.mark.django_db(transaction=True)
def test_a_recipient_who_opts_out_after_the_batch_was_recorded_is_skipped(fake_twilio):
    number = PhoneNumber.objects.create(number=SENDER, send_rate=50)
    broadcast = make(number, csv_of(3)).broadcast
    batch = sending.record_attempts(broadcast, sending.claim(broadcast, 3))
    OptOut.objects.create(number=batch[1].number)  # STOP between recording and sending
    outcomes = [sending.send_one(broadcast, row) for row in batch]
    assert outcomes == ["sent", "skipped", "sent"]
    assert [r.field("To") for r in arrivals(fake_twilio)] == [batch[0].number, batch[2].number]
    assert MessageLog.objects.get(to_number=batch[1].number).status == statuses.FAILED


# --- the acceptance line -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_send_broadcast_at_20_per_second_texts_each_valid_number_once_with_its_name(
    fake_twilio, tmp_path, settings
):
    """manage.py send_broadcast --csv FILE --body "Hi {name}" --from +15005550006 --rate 20,
    then a task worker: every valid, not opted-out number texted once, at most 20/s."""
    from io import StringIO

    from django.core.management import call_command

    PhoneNumber.objects.create(number=SENDER)  # a long code: 1/s unless --rate says more
    OptOut.objects.create(number="+14155550007")
    lines = ["name,phone"] + [f"Name {i},+1415555{i:04d}" for i in range(40)]
    lines += ["Dup,+14155550003", "Bad,12345", "Blank,"]
    path = tmp_path / "list.csv"
    path.write_text("\n".join(lines) + "\n")
    out = StringIO()
    call_command(
        "send_broadcast",
        "--csv",
        str(path),
        "--body",
        "Hi {name}",
        "--from",
        SENDER,
        "--rate",
        "20",
        stdout=out,
    )
    assert "39 queued, 1 opted out, 0 blocked, 2 invalid, 1 duplicates" in out.getvalue()
    run_tasks()
    sent = arrivals(fake_twilio)
    assert sorted((r.field("To"), r.field("Body")) for r in sent) == sorted(
        (f"+1415555{i:04d}", f"Hi Name {i}") for i in range(40) if i != 7
    )
    times = sorted(r.at for r in sent)
    # 38 gaps of 1/20 s: a late worker may gain half of one, the request some jitter
    assert times[-1] - times[0] >= 38 / 20 - 0.5 / 20 - JITTER
    for i, start in enumerate(times):  # any one second: 20, and one more at most
        assert sum(1 for t in times[i:] if t < start + 1.0) <= 21
    assert Broadcast.objects.get().state == Broadcast.State.DONE
