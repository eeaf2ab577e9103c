"""Broadcasts: importing lists, sending each recipient exactly once through a real task
worker and the real twilio backend against the fake Twilio, the shared pace, commands."""

import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from telephony.broadcasts import recipients, segments, sending, services
from telephony.logs import statuses
from telephony.models import Broadcast, BroadcastRecipient, MessageLog, OptOut, PhoneNumber
from telephony.sending import pace
from tests.conftest import run_tasks

SENDER = "+15005550006"
State = BroadcastRecipient.State


@pytest.fixture
def number(db):
    return PhoneNumber.objects.create(number=SENDER, send_rate=50)


def make(number, csv_text, body="Hi {name}", **options):
    parsed = recipients.parse_csv(csv_text, needed=["name"] if "{name}" in body else [])
    return services.create_broadcast(
        name="t", body=body, recipients=parsed, phone_number=number, **options
    )


def csv_of(count, start=0):
    return "number,name\n" + "".join(f"+1415555{i:04d},N{i}\n" for i in range(start, count))


def posts(fake):
    return [r for r in fake.requests_to("/Messages.json")]


# --- segments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", ("GSM-7", 0, 0)),
        ("a" * 160, ("GSM-7", 160, 1)),
        ("a" * 161, ("GSM-7", 161, 2)),
        ("a" * 306, ("GSM-7", 306, 2)),
        ("a" * 307, ("GSM-7", 307, 3)),
        ("€" * 80, ("GSM-7", 160, 1)),  # the extension table costs two septets
        ("é" * 160, ("GSM-7", 160, 1)),
        ("ж" * 70, ("UCS-2", 70, 1)),
        ("ж" * 71, ("UCS-2", 71, 2)),
        ("😀" * 35, ("UCS-2", 70, 1)),  # an emoji is two UTF-16 units
        ("a" * 134 + "😀", ("UCS-2", 136, 3)),
    ],
)
def test_segment_counter(text, expected):
    result = segments.count(text)
    assert (result.encoding, result.units, result.count) == expected


# --- importing -----------------------------------------------------------------------------


def test_csv_rows_are_normalised_deduplicated_and_problems_reported(settings):
    text = "Name,Phone,city\nAnn,(415) 555-0100,SF\nBob,+1 415 555 0100,LA\nCy,12,NY\nDi,,NY\nEd,+14155550101\n"
    parsed = recipients.parse_csv(text, needed=["Name"])
    assert parsed.rows == [
        ("+14155550100", {"Name": "Ann", "city": "SF"}),
        ("+14155550101", {"Name": "Ed", "city": ""}),
    ]
    assert parsed.duplicates == 1
    assert [(p.line, p.reason.split(" (")[0]) for p in parsed.problems] == [
        (4, "not a valid phone number"),
        (5, "empty"),
    ]


def test_a_placeholder_no_column_holds_is_an_error_at_creation():
    with pytest.raises(Exception, match=r"\{first\}"):
        recipients.parse_csv("number,name\n+14155550100,A\n", needed=["first"])
    with pytest.raises(Exception, match="number or phone"):
        recipients.parse_csv("who,name\n+14155550100,A\n")


def test_pasted_numbers(settings):
    parsed = recipients.parse_pasted("+14155550100\n\n415 555 0101\nnope\n+14155550100\n")
    assert [n for n, _ in parsed.rows] == ["+14155550100", "+14155550101"]
    assert parsed.problems[0].line == 4 and parsed.duplicates == 1


def test_opted_out_numbers_are_skipped_and_counted(number):
    OptOut.objects.create(number="+14155550001")
    created = make(number, csv_of(3), start=False)
    assert (created.queued, created.opted_out) == (2, 1)
    skipped = BroadcastRecipient.objects.get(state=State.SKIPPED)
    assert skipped.number == "+14155550001" and "opted out" in skipped.skip_reason


def test_the_sender_must_be_ours_or_a_messaging_service(db, settings):
    parsed = recipients.parse_pasted("+14155550100")
    with pytest.raises(Exception, match="Messaging Service"):
        services.create_broadcast(name="x", body="hi", recipients=parsed)
    with pytest.raises(Exception, match="MG followed by"):
        services.create_broadcast(
            name="x", body="hi", recipients=parsed, messaging_service_sid="MGnope"
        )


# --- sending exactly once ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_texts_everyone_once_with_their_placeholders(number, fake_twilio):
    created = make(number, csv_of(7))
    assert created.broadcast.state == Broadcast.State.SENDING
    run_tasks()
    sent = posts(fake_twilio)
    assert sorted(p.field("To") for p in sent) == [f"+1415555{i:04d}" for i in range(7)]
    assert {p.field("Body") for p in sent} == {f"Hi N{i}" for i in range(7)}
    assert all(p.field("From") == SENDER for p in sent)
    broadcast = Broadcast.objects.get()
    assert broadcast.state == Broadcast.State.DONE
    assert set(broadcast.recipients.values_list("state", flat=True)) == {State.SENT}
    assert all(r.message.sid for r in broadcast.recipients.select_related("message"))
    run_tasks()
    assert len(posts(fake_twilio)) == 7


@pytest.mark.django_db(transaction=True)
def test_a_messaging_service_sends_without_a_from(db, fake_twilio, settings):
    settings.TELEPHONY_MESSAGING_SERVICE_SID = "MG" + "a" * 32
    settings.TELEPHONY_MESSAGING_SERVICE_RATE = 100
    services.create_broadcast(
        name="ms", body="hello", recipients=recipients.parse_pasted("+14155550100")
    )
    run_tasks()
    [post] = posts(fake_twilio)
    assert post.field("MessagingServiceSid") == "MG" + "a" * 32 and post.field("From") is None


@pytest.mark.django_db(transaction=True)
def test_twilio_busy_backs_off_and_every_recipient_is_texted_once(number, fake_twilio):
    fake_twilio.fail_every(3)  # more than the backend's quick retries can hide
    fake_twilio.fail_next(503, times=8, path_contains="Messages")  # a longer outage
    make(number, csv_of(6))
    for _ in range(30):
        run_tasks()
        if Broadcast.objects.get().state == Broadcast.State.DONE:
            break
        time.sleep(0.2)
    accepted = [p for p in posts(fake_twilio)]
    broadcast = Broadcast.objects.get()
    assert broadcast.state == Broadcast.State.DONE
    assert set(broadcast.recipients.values_list("state", flat=True)) == {State.SENT}
    sids = MessageLog.objects.exclude(sid=None).values_list("to_number", flat=True)
    assert sorted(sids) == [f"+1415555{i:04d}" for i in range(6)]  # one accepted each
    assert len(accepted) > 6


@pytest.mark.django_db(transaction=True)
def test_an_unknown_outcome_is_reported_and_never_resent(number, fake_twilio, settings):
    settings.TELEPHONY_TWILIO_TIMEOUT = 0.3
    fake_twilio.fail_next(201, delay=1.0, path_contains="Messages")  # answered too late
    make(number, csv_of(3))
    run_tasks()
    run_tasks()
    unknown = BroadcastRecipient.objects.get(state=State.UNKNOWN)
    assert unknown.message.status == statuses.UNKNOWN
    assert len(posts(fake_twilio)) == 3  # the timed-out one was not asked again
    out = StringIO()
    call_command("broadcast_status", str(unknown.broadcast_id), stdout=out)
    assert "1 unknown" in out.getvalue() and unknown.number in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_never_texts_anyone_twice(number, fake_twilio):
    created = make(number, csv_of(5), start=False)
    broadcast = created.broadcast
    services.start_broadcast(broadcast=broadcast)
    # What a worker SIGKILLed mid-batch leaves: one recipient being sent (its message
    # claimed), one recorded but not yet sent, one claimed with no message yet.
    rows = list(broadcast.recipients.order_by("pk"))
    batch = sending.claim(broadcast, 3)
    in_flight = services_record(broadcast, batch[0], statuses.SUBMITTING)
    services_record(broadcast, batch[1], statuses.PENDING)
    BroadcastRecipient.objects.filter(pk__in=[r.pk for r in batch]).update(
        claimed_at="2000-01-01T00:00:00Z"
    )
    run_tasks()
    states = dict(broadcast.recipients.values_list("number", "state"))
    assert states[rows[0].number] == State.UNKNOWN
    assert [s for n, s in states.items() if n != rows[0].number] == [State.SENT] * 4
    texted = sorted(p.field("To") for p in posts(fake_twilio))
    assert texted == sorted(r.number for r in rows[1:])  # in flight: not resent
    assert MessageLog.objects.get(pk=in_flight.pk).status == statuses.SUBMITTING


def services_record(broadcast, row, status):
    from telephony.sending import services as sms

    log = sms.record_pending_sms(to=row.number, sender=broadcast.sender, body="x")
    MessageLog.objects.filter(pk=log.pk).update(status=status)
    BroadcastRecipient.objects.filter(pk=row.pk).update(message=log)
    return log


@pytest.mark.django_db(transaction=True)
def test_pause_and_cancel_stop_sending(number, fake_twilio):
    created = make(number, csv_of(4))
    services.pause_broadcast(broadcast=created.broadcast)
    run_tasks()
    assert posts(fake_twilio) == []
    services.resume_broadcast(broadcast=created.broadcast)
    run_tasks()
    assert len(posts(fake_twilio)) == 4


@pytest.mark.django_db(transaction=True)
def test_a_recipient_who_opts_out_meanwhile_is_skipped(number, fake_twilio):
    make(number, csv_of(2))
    OptOut.objects.create(number="+14155550000")
    run_tasks()
    assert [p.field("To") for p in posts(fake_twilio)] == ["+14155550001"]
    assert BroadcastRecipient.objects.get(number="+14155550000").state == State.SKIPPED


# --- the pace -------------------------------------------------------------------------------


def test_slots_are_spaced_by_the_rate(db, settings):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    slots = [pace.reserve(SENDER, rate=10) for _ in range(20)]
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(abs(gap - 0.1) < 1e-6 for gap in gaps)
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 5  # the account's ceiling wins
    later = [pace.reserve("+15005550007", rate=10) for _ in range(3)]
    assert abs((later[2] - later[1]) - 0.2) < 1e-6


@pytest.mark.skipif(connection.vendor != "postgresql", reason="threads need a real server")
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_one_pace(settings):
    settings.TELEPHONY_ACCOUNT_MAX_RATE = 1000
    sends = []
    lock = threading.Lock()

    def worker():
        try:
            for _ in range(15):
                pace.wait_for_slot(SENDER, rate=20)
                with lock:
                    sends.append(time.time())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sends.sort()
    assert len(sends) == 30
    assert sends[-1] - sends[0] >= 29 / 20 - 0.05  # 20/s, not 40/s
    for i, at in enumerate(sends):  # never more than 21 in any one second
        assert sum(1 for t in sends[i:] if t < at + 1) <= 21


# --- commands -------------------------------------------------------------------------------


def test_send_broadcast_creates_and_queues(number, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("phone,name\n+14155550100,Ann\nbad,Bob\n+14155550100,Ann\n")
    out = StringIO()
    call_command(
        "send_broadcast", csv=str(path), body="Hi {name}", from_=SENDER, rate=5, stdout=out
    )
    text = out.getvalue()
    assert "line 3" in text and "1 queued" in text and "1 duplicates" in text
    broadcast = Broadcast.objects.get()
    assert broadcast.rate == 5 and broadcast.state == Broadcast.State.SENDING
    status = StringIO()
    call_command("broadcast_status", str(broadcast.pk), stdout=status)
    assert "0/1 done" in status.getvalue()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--csv", "/nonexistent.csv", "--body", "x"], "Cannot read"),
        (["--body", "Hi {first}"], "{first}"),
        (["--body", "x", "--from", "+14155559999"], "not one of our numbers"),
        (["--body", "x", "--at", "tomorrow"], "not a time"),
        (["--body", "x", "--messaging-service", "MG1"], "MG followed by"),
    ],
)
def test_send_broadcast_bad_input_is_one_line(number, tmp_path, args, message):
    path = tmp_path / "list.csv"
    path.write_text("number,name\n+14155550100,Ann\n")
    if "--csv" not in args:
        args = ["--csv", str(path), *args]
    with pytest.raises(CommandError) as error:
        call_command("send_broadcast", *args)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_broadcast_status_of_nothing(db):
    with pytest.raises(CommandError, match="no broadcast 9"):
        call_command("broadcast_status", "9")


# --- the admin ------------------------------------------------------------------------------


def test_admin_creates_previews_starts_and_exports(admin_client, number):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("l.csv", b"number,name\n+14155550100,Zoe\nnope,X\n")
    page = admin_client.post(
        "/admin/telephony/broadcast/add/",
        {"name": "Promo", "body": "Hi {name} \u20ac", "phone_number": number.pk, "upload": upload},
    )
    assert page.status_code == 302, page.content[:3000]
    broadcast = Broadcast.objects.get()
    assert broadcast.state == Broadcast.State.DRAFT and broadcast.invalid_count == 1
    change = admin_client.get(f"/admin/telephony/broadcast/{broadcast.pk}/change/")
    html = change.content.decode()
    assert change.status_code == 200 and "Hi Zoe €" in html and "GSM-7" in html
    assert 'style="' not in html and "<progress" in html
    listing = admin_client.get("/admin/telephony/broadcast/")
    assert listing.status_code == 200 and 'style="' not in listing.content.decode()
    ids = {"_selected_action": [broadcast.pk]}
    admin_client.post("/admin/telephony/broadcast/", {"action": "start_now", **ids})
    assert Broadcast.objects.get().state == Broadcast.State.SENDING
    admin_client.post("/admin/telephony/broadcast/", {"action": "pause", **ids})
    assert Broadcast.objects.get().state == Broadcast.State.PAUSED
    export = admin_client.post("/admin/telephony/broadcast/", {"action": "export_results", **ids})
    text = b"".join(export.streaming_content).decode()
    assert text.splitlines()[1].startswith(f"{broadcast.pk},+14155550100,queued")


def test_admin_refuses_a_placeholder_the_list_lacks(admin_client, number):
    page = admin_client.post(
        "/admin/telephony/broadcast/add/",
        {"name": "P", "body": "Hi {name}", "phone_number": number.pk, "pasted": "+14155550100"},
    )
    assert page.status_code == 200 and "no value for {name}: upload a CSV" in page.content.decode()


# --- status callbacks -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_delivery_follows_the_status_callbacks(number, fake_twilio, twilio):
    created = make(number, csv_of(2))
    run_tasks()
    first, second = created.broadcast.recipients.select_related("message").order_by("pk")
    for row, status, code in [(first, "delivered", ""), (second, "undelivered", "30003")]:
        params = {"MessageSid": row.message.sid, "MessageStatus": status, "ErrorCode": code}
        assert twilio.post("/twilio/status/", params).status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.delivery, second.delivery) == ("delivered", "undelivered")
    assert second.message.error_code == 30003
    p = services.progress(created.broadcast)
    assert (p["delivered"], p["undelivered"], p["counts"]["sent"]) == (1, 1, 2)


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_starts_at_its_time(number, fake_twilio):
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    at = timezone.now() + timedelta(hours=1)
    created = make(number, csv_of(2), start_at=at)
    assert created.broadcast.state == Broadcast.State.SCHEDULED
    run_tasks()
    assert posts(fake_twilio) == []
    DBTaskResult.objects.update(run_after=timezone.now())  # an hour later
    Broadcast.objects.update(start_at=timezone.now())
    run_tasks()
    assert len(posts(fake_twilio)) == 2
    assert Broadcast.objects.get().state == Broadcast.State.DONE


@pytest.mark.django_db(transaction=True)
def test_cancelling_skips_the_recipients_still_queued_and_sends_nothing_more(number, fake_twilio):
    created = make(number, csv_of(3))
    assert services.cancel_broadcast(broadcast=created.broadcast)
    run_tasks()
    assert posts(fake_twilio) == []
    rows = BroadcastRecipient.objects.filter(broadcast=created.broadcast)
    assert {(row.state, row.skip_reason) for row in rows} == {
        (State.SKIPPED, "Cancelled before it was sent.")
    }
    assert not services.cancel_broadcast(broadcast=created.broadcast)  # once is enough
