"""manage.py prune_logs: what goes (old call logs, their events, old messages), what stays
(newer rows, calls a voicemail names), the dry run, batches, and bad arguments."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from telephony.models import (
    Broadcast,
    BroadcastRecipient,
    CallEvent,
    CallLog,
    MessageLog,
    Voicemail,
)

pytestmark = pytest.mark.django_db

OLD = dt.timedelta(days=401)
NEW = dt.timedelta(days=399)


def sid(prefix, n):
    return f"{prefix}{n:032x}"


def call(n, age):
    log = CallLog.objects.create(sid=sid("CA", n), direction="inbound", to_number="+15005550006")
    CallLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - age)
    for kind in ("call_started", "input", "call_ended"):
        CallEvent.objects.create(call_sid=log.sid, kind=kind, at=timezone.now() - age)
    return log


def message(n, age):
    log = MessageLog.objects.create(sid=sid("SM", n), direction="inbound", body="hi")
    MessageLog.objects.filter(pk=log.pk).update(created_at=timezone.now() - age)
    return log


@pytest.fixture
def logs():
    for n in range(5):
        call(n, OLD)
    for n in range(5, 8):
        call(n, NEW)
    for n in range(4):
        message(n, OLD)
    for n in range(4, 6):
        message(n, NEW)
    # An old call whose voicemail is still kept.
    call(99, OLD)
    Voicemail.objects.create(recording_sid=sid("RE", 1), call_sid=sid("CA", 99))


def run(*args):
    out = StringIO()
    call_command("prune_logs", *args, stdout=out)
    return out.getvalue()


def test_dry_run_counts_and_deletes_nothing(logs):
    out = run("--older-than", "400d", "--dry-run")
    assert (
        "Would delete 5 call log(s), 15 call event(s) and 4 message log(s) older than 400d" in out
    )
    assert "Kept 1 older call log(s)" in out
    assert CallLog.objects.count() == 9
    assert CallEvent.objects.count() == 27
    assert MessageLog.objects.count() == 6


def test_deletes_what_is_older_and_keeps_the_rest(logs):
    out = run("--older-than", "400d")
    assert "Deleted 5 call log(s), 15 call event(s) and 4 message log(s)" in out
    assert sorted(CallLog.objects.values_list("sid", flat=True)) == [
        sid("CA", n) for n in (5, 6, 7, 99)
    ]
    # The kept voicemail's call keeps its journey too.
    assert CallEvent.objects.filter(call_sid=sid("CA", 99)).count() == 3
    assert set(CallEvent.objects.values_list("call_sid", flat=True)) == {
        sid("CA", n) for n in (5, 6, 7, 99)
    }
    assert sorted(MessageLog.objects.values_list("sid", flat=True)) == [sid("SM", 4), sid("SM", 5)]
    assert Voicemail.objects.count() == 1
    # Once its voicemail is gone, the call goes at the next prune.
    Voicemail.objects.all().delete()
    assert "Deleted 1 call log(s), 3 call event(s) and 0 message log(s)" in run(
        "--older-than", "400d"
    )
    assert run("--older-than", "400d").startswith("Deleted 0 call log(s)")


def test_batches(logs):
    out = StringIO()
    call_command("prune_logs", "--older-than", "400d", "--batch-size", "2", "-v", "2", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.strip() for line in lines if "call logs deleted" in line] == [
        "2 call logs deleted so far",
        "4 call logs deleted so far",
        "5 call logs deleted so far",
    ]
    assert len([line for line in lines if "call events deleted" in line]) == 8  # 15 in 2s
    assert CallLog.objects.count() == 4 and MessageLog.objects.count() == 2


def test_a_broadcast_keeps_its_recipients_when_their_messages_go():
    old = message(1, OLD)
    broadcast = Broadcast.objects.create(
        name="Old", body="x", messaging_service_sid="MG" + "a" * 32, state="done"
    )
    recipient = BroadcastRecipient.objects.create(
        broadcast=broadcast, number="+14155550100", state="sent", message=old
    )
    run("--older-than", "400d")
    recipient.refresh_from_db()
    assert recipient.message is None and recipient.state == "sent"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--older-than", "soon"], "give an age such as 90d"),
        (["--older-than", "0d"], "give an age such as 90d"),
        (["--older-than", "400d", "--batch-size", "0"], "--batch-size must be"),
    ],
)
def test_bad_arguments(logs, args, words):
    with pytest.raises(CommandError, match=words):
        run(*args)
    assert CallLog.objects.count() == 9
