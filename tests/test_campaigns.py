"""Call campaigns: a list called with a flow of the live release, each number exactly once,
at the campaign's and the account's calls per second, through a real task worker and the
real twilio backend against the fake Twilio; the outcome from the call's status
callbacks and the option pressed from its Gather, both through the signed webhooks; the
commands and the admin."""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from telephony.broadcasts import recipients, sending, services
from telephony.exceptions import TelephonyValidationError
from telephony.logs import statuses
from telephony.models import (
    Broadcast,
    BroadcastRecipient,
    CallCampaign,
    CallerRule,
    CallFlow,
    CallLog,
    OptOut,
    PhoneNumber,
)
from telephony.sending import pace
from telephony.sending import services as sending_services
from tests import servers
from tests.conftest import SignedClient, parse_twiml, run_tasks
from tests.factories import live_release, make_flow, make_number, publish
from tests.fake_twilio import FakeTwilio

PUBLIC = "https://switchboard.example.com"
CALLER_ID = "+15005550006"
FLOW_URL = f"{PUBLIC}/twilio/voice/flows/reminder/"
State = BroadcastRecipient.State


@pytest.fixture
def reminder(db, settings):
    """An appointment reminder in the live release (press 1 to confirm, 2 to talk to
    someone), our caller ID, and a public URL for Twilio to fetch the flow from."""
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 50
    confirmed = make_flow(
        "confirmed", steps=[{"verb": "say", "text": "Confirmed, thank you."}, {"verb": "hangup"}]
    )
    desk = make_flow("desk", steps=[{"verb": "dial", "dial_target": "+14155550100"}])
    flow = make_flow(
        "reminder",
        steps=[
            {
                "verb": "gather",
                "text": "Press 1 to confirm, 2 to talk to someone.",
                "num_digits": 1,
            },
            {"verb": "say", "text": "Please call us back. Goodbye."},
        ],
        options=[("1", confirmed), ("2", desk)],
    )
    number = make_number(CALLER_ID, flow=flow)
    publish("The reminder.")
    return number


@pytest.fixture
def twilio_public(client):
    """Posts signed as Twilio signs our public URLs."""
    return SignedClient(client, base=PUBLIC)


def numbers(count, start=0):
    return [f"+1415555{i:04d}" for i in range(start, start + count)]


def campaign(number, listed, *, rate=20, start=True, **options):
    parsed = recipients.parse_pasted("\n".join(listed))
    return services.create_call_campaign(
        name="Reminders",
        flow_slug="reminder",
        recipients=parsed,
        phone_number=number,
        rate=rate,
        start=start,
        **options,
    )


def placed(fake):
    return fake.requests_to("/Calls.json")


def call_of(number):
    return BroadcastRecipient.objects.select_related("call").get(number=number).call


# --- placing the calls -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_everyone_is_called_once_with_the_live_flow_and_opted_out_and_blocked_are_skipped(
    reminder, fake_twilio
):
    OptOut.objects.create(number="+14155550004")
    CallerRule.objects.create(pattern="+14155550005")  # blocked from every number of ours
    publish("Block a nuisance caller.")
    created = campaign(reminder, numbers(6))
    assert (created.queued, created.opted_out, created.blocked) == (4, 1, 1)
    assert created.broadcast.state == Broadcast.State.SENDING
    run_tasks()
    calls = placed(fake_twilio)
    assert sorted(c.field("To") for c in calls) == numbers(4)
    assert {c.field("From") for c in calls} == {CALLER_ID}
    assert {c.field("Url") for c in calls} == {FLOW_URL}
    assert {c.field("StatusCallback") for c in calls} == {f"{PUBLIC}/twilio/status/"}
    campaign_row = Broadcast.objects.get()
    assert campaign_row.state == Broadcast.State.DONE and campaign_row.is_call
    rows = dict(campaign_row.recipients.values_list("number", "state"))
    assert [rows[n] for n in numbers(4)] == [State.SENT] * 4
    skipped = dict(
        campaign_row.recipients.filter(state=State.SKIPPED).values_list("number", "skip_reason")
    )
    assert skipped == {"+14155550004": "opted out (STOP)", "+14155550005": "blocked (caller rule)"}
    # Each call is in the call log, outbound, with Twilio's SID, linked to its recipient.
    logs = CallLog.objects.filter(broadcast_recipients__isnull=False)
    assert sorted(logs.values_list("to_number", flat=True)) == numbers(4)
    assert all(log.sid and log.direction == "outbound" for log in logs)
    run_tasks()  # a second worker run calls nobody again
    assert len(placed(fake_twilio)) == 4


@pytest.mark.django_db(transaction=True)
def test_calls_keep_the_campaigns_calls_per_second(reminder, fake_twilio):
    """11 calls at 5 a second: two seconds from the first to the last, never more than 6
    in any one second. (The slots are exactly 0.2 s apart, see the next tests; what
    reaches Twilio also carries each request's own delay.)"""
    campaign(reminder, numbers(11), rate=5)
    run_tasks()
    times = sorted(c.at for c in placed(fake_twilio))
    assert len(times) == 11
    # The first call may reach Twilio late (the client's first connection), never early.
    assert times[-1] - times[1] >= 9 * 0.2 - 0.1, times
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= 6, times


def test_the_rate_defaults_to_one_a_second_and_the_account_caps_it(db, settings):
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 1
    phone = PhoneNumber(number=CALLER_ID)
    assert Broadcast(kind="call", phone_number=phone).sender_rate() == 1
    assert Broadcast(kind="call", phone_number=phone, rate=10).sender_rate() == 1
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 4
    assert Broadcast(kind="call", phone_number=phone).sender_rate() == 1  # default 1
    assert Broadcast(kind="call", phone_number=phone, rate=3).sender_rate() == 3
    assert Broadcast(kind="call", phone_number=phone, rate=10).sender_rate() == 4


def test_every_campaign_shares_the_accounts_calls_per_second(db, settings):
    """Two campaigns at 10/s each on an account allowed 5/s: together one call per 0.2 s."""
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 5
    slots = []
    for _ in range(4):
        slots.append(pace.reserve_call("broadcast:1", rate=10))
        slots.append(pace.reserve_call("broadcast:2", rate=10))
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    assert all(abs(gap - 0.2) < 1e-6 for gap in gaps), gaps
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 100  # now the campaign's own rate rules
    mine = [pace.reserve_call("broadcast:3", rate=2) for _ in range(3)]
    assert abs((mine[2] - mine[1]) - 0.5) < 1e-6


# --- what happens on the call ------------------------------------------------------------------


def voice_params(call: CallLog, **extra):
    """What Twilio posts for a call it placed (Direction outbound-api: From is us)."""
    return {
        "CallSid": call.sid,
        "AccountSid": "AC" + "0" * 32,
        "From": call.from_number,
        "To": call.to_number,
        "Direction": "outbound-api",
        "CallStatus": "in-progress",
        **extra,
    }


def answer(twilio_public, call: CallLog, *keys: str) -> ET.Element:
    """The person answers: Twilio fetches the call's URL, then posts each key pressed to the
    Gather's action. Returns the last TwiML."""
    root = parse_twiml(twilio_public.post(urlsplit(call.url).path, voice_params(call)))
    for key in keys:
        action = urlsplit(root.find("Gather").get("action"))
        path = action.path + (f"?{action.query}" if action.query else "")
        root = parse_twiml(twilio_public.post(path, voice_params(call, Digits=key)))
    return root


def hang_up(twilio_public, call: CallLog, status: str, duration: str = "") -> None:
    params = voice_params(call, CallStatus=status)
    if duration:
        params["CallDuration"] = duration
    assert twilio_public.post("/twilio/status/", params).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_outcome_and_the_option_pressed_come_from_the_calls_webhooks(
    reminder, fake_twilio, twilio_public
):
    people = numbers(5)
    created = campaign(reminder, people)
    run_tasks()
    confirms, talks, absent, busy, odd = (call_of(n) for n in people)
    root = answer(twilio_public, confirms, "1")
    assert [s.text for s in root.iter("Say")] == ["Confirmed, thank you."]
    hang_up(twilio_public, confirms, "completed", "14")
    answer(twilio_public, talks, "9", "2")  # a key no option has, then 2
    hang_up(twilio_public, talks, "completed", "40")
    hang_up(twilio_public, absent, "no-answer")
    hang_up(twilio_public, busy, "busy")
    hang_up(twilio_public, odd, "ringing")  # not over yet
    got = {
        r.number: (r.outcome, r.pressed)
        for r in BroadcastRecipient.objects.select_related("call").filter(
            broadcast=created.broadcast
        )
    }
    assert got == {
        people[0]: ("answered", "1"),
        people[1]: ("answered", "2"),
        people[2]: ("no answer", ""),
        people[3]: ("busy", ""),
        people[4]: ("calling", ""),
    }
    counts = services.call_outcomes(created.broadcast)
    assert counts["outcomes"] == {
        "answered": 2,
        "no answer": 1,
        "busy": 1,
        "failed": 0,
        "canceled": 0,
        "calling": 1,
    }
    assert counts["pressed"] == {"1": 1, "2": 1}
    out = StringIO()
    call_command("broadcast_status", str(created.broadcast.pk), stdout=out)
    assert "2 answered, 1 no answer, 1 busy" in out.getvalue()
    assert "1 pressed 1, 1 pressed 2" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_first_choice_is_kept_and_inbound_calls_record_nothing(
    reminder, fake_twilio, twilio_public
):
    campaign(reminder, numbers(1))
    run_tasks()
    call = call_of(numbers(1)[0])
    answer(twilio_public, call, "2")
    answer(twilio_public, call, "1")  # Twilio fetched the flow again, say: the first stays
    inbound = voice_params(call, Direction="inbound", Digits="1")
    gather = f"/twilio/releases/{live_release()}/flows/reminder/steps/1/gather/"
    assert twilio_public.post(gather, inbound).status_code == 200
    assert BroadcastRecipient.objects.get().pressed == "2"
    BroadcastRecipient.objects.update(pressed="")
    assert twilio_public.post(gather, inbound).status_code == 200  # inbound: not a campaign's
    assert BroadcastRecipient.objects.get().pressed == ""


# --- steering, and what goes wrong -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_pause_resume_and_cancel(reminder, fake_twilio):
    first = campaign(reminder, numbers(3)).broadcast
    assert services.pause_broadcast(broadcast=first)
    run_tasks()
    assert placed(fake_twilio) == []
    assert services.resume_broadcast(broadcast=first)
    run_tasks()
    assert len(placed(fake_twilio)) == 3
    second = campaign(reminder, numbers(2, start=10)).broadcast
    assert services.cancel_broadcast(broadcast=second)
    run_tasks()
    assert len(placed(fake_twilio)) == 3
    assert set(second.recipients.values_list("state", "skip_reason")) == {
        (State.SKIPPED, "Cancelled before it was sent.")
    }


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_calls_nobody_twice(reminder, fake_twilio):
    """What a worker SIGKILLed mid-batch leaves: one call being placed (claimed at Twilio's
    door), one recorded but not placed, one claimed with no call yet. A later worker
    places the last two, and marks the first unknown without calling again."""
    created = campaign(reminder, numbers(5), start=False)
    broadcast = created.broadcast
    services.start_broadcast(broadcast=broadcast)
    batch = sending.claim(broadcast, 3)
    for row, status in [(batch[0], statuses.SUBMITTING), (batch[1], statuses.PENDING)]:
        log = sending_services.record_pending_call(
            to=row.number, from_=CALLER_ID, flow_slug="reminder"
        )
        CallLog.objects.filter(pk=log.pk).update(status=status)
        BroadcastRecipient.objects.filter(pk=row.pk).update(call=log)
    BroadcastRecipient.objects.filter(pk__in=[r.pk for r in batch]).update(
        claimed_at="2000-01-01T00:00:00Z"
    )
    run_tasks()
    states = dict(broadcast.recipients.values_list("number", "state"))
    assert states.pop(batch[0].number) == State.UNKNOWN
    assert set(states.values()) == {State.SENT}
    called = sorted(c.field("To") for c in placed(fake_twilio))
    assert called == sorted(n for n in numbers(5) if n != batch[0].number)
    assert CallLog.objects.filter(to_number=batch[1].number).count() == 1  # its own row, placed
    out = StringIO()
    call_command("broadcast_status", str(broadcast.pk), stdout=out)
    assert f"unknown outcome (check the Twilio console): {batch[0].number}" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_call_twilio_never_answered_is_unknown_and_never_placed_again(
    reminder, fake_twilio, settings
):
    settings.TELEPHONY_TWILIO_TIMEOUT = 0.3
    fake_twilio.fail_next(201, delay=1.0, path_contains="Calls")  # answered too late
    campaign(reminder, numbers(3))
    run_tasks()
    run_tasks()
    unknown = BroadcastRecipient.objects.get(state=State.UNKNOWN)
    assert unknown.call.status == statuses.UNKNOWN
    assert len(placed(fake_twilio)) == 3
    assert BroadcastRecipient.objects.filter(state=State.SENT).count() == 2


@pytest.mark.django_db(transaction=True)
def test_twilio_busy_waits_and_everyone_is_still_called_once(reminder, fake_twilio):
    fake_twilio.fail_next(503, times=8, path_contains="Calls")  # beyond the quick retries
    created = campaign(reminder, numbers(3))
    for _ in range(30):
        run_tasks()
        if Broadcast.objects.get().state == Broadcast.State.DONE:
            break
        time.sleep(0.2)
    assert Broadcast.objects.get().state == Broadcast.State.DONE
    accepted = [c.field("To") for c in placed(fake_twilio) if c.answered == 201]
    assert sorted(accepted) == numbers(3)
    assert set(created.broadcast.recipients.values_list("state", flat=True)) == {State.SENT}


@pytest.mark.django_db(transaction=True)
def test_twilio_refusing_a_number_fails_that_recipient_only(reminder, fake_twilio):
    fake_twilio.fail_next(400, 21215, "Geo permission", path_contains="Calls")
    created = campaign(reminder, numbers(2))
    run_tasks()
    failed = BroadcastRecipient.objects.get(state=State.FAILED)
    assert failed.error_code == 21215 and failed.call.status == statuses.FAILED
    assert created.broadcast.recipients.filter(state=State.SENT).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_flow_gone_from_the_live_release_pauses_the_campaign(reminder, fake_twilio):
    created = campaign(reminder, numbers(3), start=False)
    CallFlow.objects.filter(slug="reminder").update(is_active=False)
    publish("Reminders off.")
    services.start_broadcast(broadcast=created.broadcast)
    run_tasks()
    assert placed(fake_twilio) == []
    created.broadcast.refresh_from_db()
    assert created.broadcast.state == Broadcast.State.PAUSED
    assert set(created.broadcast.recipients.values_list("state", flat=True)) == {State.QUEUED}


def test_a_campaign_needs_a_live_flow_and_a_voice_caller_id(reminder):
    make_flow("draft-only")
    listed = recipients.parse_pasted("+14155550100")
    with pytest.raises(TelephonyValidationError, match="publish it first"):
        services.create_call_campaign(
            name="x", flow_slug="draft-only", recipients=listed, phone_number=reminder
        )
    sms_only = PhoneNumber.objects.create(number="+15005550007", voice_capable=False)
    with pytest.raises(TelephonyValidationError, match="cannot make calls"):
        services.create_call_campaign(
            name="x", flow_slug="reminder", recipients=listed, phone_number=sms_only
        )
    with pytest.raises(TelephonyValidationError, match="no valid number to call"):
        services.create_call_campaign(
            name="x",
            flow_slug="reminder",
            recipients=recipients.parse_pasted("nope"),
            phone_number=reminder,
        )
    assert not Broadcast.objects.exists()


# --- commands ----------------------------------------------------------------------------------


def test_send_broadcast_with_a_flow_creates_a_call_campaign(reminder, tmp_path, settings):
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 5
    path = tmp_path / "list.csv"
    path.write_text("phone,name\n+14155550100,Ann\nbad,Bob\n+14155550101,Cy\n")
    out = StringIO()
    call_command(
        "send_broadcast", csv=str(path), flow="reminder", from_=CALLER_ID, rate=2, stdout=out
    )
    text = out.getvalue()
    assert "Call campaign" in text and "2 queued" in text and "line 3" in text
    made = CallCampaign.objects.get()
    assert (made.flow_slug, made.rate, made.sender, made.state) == (
        "reminder",
        2,
        CALLER_ID,
        Broadcast.State.SENDING,
    )
    assert made.sender_rate() == 2
    out = StringIO()
    call_command(
        "send_broadcast", csv=str(path), flow="reminder", from_=CALLER_ID, rate=9, stdout=out
    )
    assert "calls go at 5 a second" in out.getvalue()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--flow", "reminder"], "--flow needs --from"),
        (["--flow", "nope", "--from", CALLER_ID], "no active flow 'nope'"),
        (["--flow", "reminder", "--from", "+14155559999"], "not one of our numbers"),
        (["--flow", "reminder", "--from", CALLER_ID, "--body", "x"], "not allowed with"),
    ],
)
def test_send_broadcast_with_a_flow_bad_input_is_one_line(reminder, tmp_path, args, message):
    path = tmp_path / "list.csv"
    path.write_text("number\n+14155550100\n")
    with pytest.raises(CommandError) as error:
        call_command("send_broadcast", "--csv", str(path), *args)
    assert message in str(error.value) and "\n" not in str(error.value)


# --- the admin ---------------------------------------------------------------------------------


def test_admin_creates_a_campaign_and_shows_outcomes_and_options(admin_client, reminder):
    form = admin_client.get("/admin/telephony/callcampaign/add/")
    html = form.content.decode()
    assert form.status_code == 200 and 'value="reminder"' in html and "Calls per second" in html
    upload = SimpleUploadedFile(
        "l.csv", b"number,name\n+14155550100,Zoe\n+14155550101,Al\nnope,X\n"
    )
    page = admin_client.post(
        "/admin/telephony/callcampaign/add/",
        {
            "name": "Reminders",
            "flow_slug": "reminder",
            "phone_number": reminder.pk,
            "upload": upload,
        },
    )
    assert page.status_code == 302, page.content[:3000]
    made = CallCampaign.objects.get()
    assert made.state == Broadcast.State.DRAFT and made.invalid_count == 1
    # As if called: one answered and pressed 1, one not answered.
    for number, status, key in [
        ("+14155550100", "completed", "1"),
        ("+14155550101", "no-answer", ""),
    ]:
        log = CallLog.objects.create(
            direction="outbound",
            to_number=number,
            status=status,
            sid="CA" + number[1:].ljust(32, "0"),
        )
        made.recipients.filter(number=number).update(state=State.SENT, call=log, pressed=key)
    change = admin_client.get(f"/admin/telephony/callcampaign/{made.pk}/change/")
    html = change.content.decode()
    assert change.status_code == 200 and 'style="' not in html
    assert "<td>+14155550100</td><td>answered</td><td>1</td>" in html
    assert "<td>+14155550101</td><td>no answer</td><td>-</td>" in html
    listing = admin_client.get("/admin/telephony/callcampaign/")
    assert "1 answered, 1 no answer, 1 pressed 1" in listing.content.decode()
    assert "Reminders" not in admin_client.get("/admin/telephony/broadcast/").content.decode()
    ids = {"_selected_action": [made.pk]}
    export = admin_client.post(
        "/admin/telephony/callcampaign/", {"action": "export_results", **ids}
    )
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0].startswith("campaign,number,state,outcome,option pressed,call status")
    assert lines[1].startswith(f"{made.pk},+14155550100,sent,answered,1,completed")
    assert lines[2].startswith(f"{made.pk},+14155550101,sent,no answer,,no-answer")
    admin_client.post("/admin/telephony/callcampaign/", {"action": "cancel", **ids})
    assert CallCampaign.objects.get().state == Broadcast.State.CANCELLED


def test_admin_refuses_a_flow_the_live_release_lacks_and_a_rate_above_the_account(
    admin_client, reminder, settings
):
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 1
    page = admin_client.post(
        "/admin/telephony/callcampaign/add/",
        {
            "name": "R",
            "flow_slug": "",
            "phone_number": reminder.pk,
            "pasted": "+14155550100",
            "rate": "5",
        },
    )
    html = page.content.decode()
    assert page.status_code == 200 and not CallCampaign.objects.exists()
    assert "This field is required." in html and "ask Twilio to raise it first" in html


# --- a real worker, SIGKILLed mid-campaign --------------------------------------------------


@pytest.fixture
def worker_database(tmp_path):
    """A database of its own for worker processes (the test's own may be in memory): a
    fresh PostgreSQL database when the tests run on PostgreSQL, else an SQLite file."""
    if connection.vendor != "postgresql":
        yield servers.sqlite_url(tmp_path / "campaign.sqlite3")
        return
    if not servers.postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"sb_faults_campaign_{os.getpid()}"
    url = servers.create_postgres_database(name)
    yield url
    servers.drop_postgres_database(name)


# The reminder of the `reminder` fixture, as a fixture file (natural keys, like the demo's).
REMINDER_FIXTURE = [
    {
        "model": "telephony.callflow",
        "fields": {"name": name, "slug": name.lower(), "updated_at": "2026-01-01T00:00:00Z"},
    }
    for name in ("Reminder", "Confirmed")
] + [
    {
        "model": "telephony.step",
        "fields": {
            "flow": ["reminder"],
            "position": 1,
            "verb": "gather",
            "text": "Press 1 to confirm.",
            "num_digits": 1,
        },
    },
    {"model": "telephony.step", "fields": {"flow": ["confirmed"], "position": 1, "verb": "hangup"}},
    {
        "model": "telephony.menuoption",
        "fields": {"flow": ["reminder"], "digits": "1", "target_flow": ["confirmed"]},
    },
    {
        "model": "telephony.phonenumber",
        "fields": {"number": CALLER_ID, "voice_capable": True, "call_flow": ["reminder"]},
    },
]


def start_worker(env, log):
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--interval", "0.1", "--no-startup-delay"],
        cwd=servers.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_sigkilled_mid_campaign_calls_nobody_twice(worker_database, tmp_path):
    """`manage.py db_worker` (production settings, the real twilio backend, the fake Twilio)
    is SIGKILLed while Twilio is placing the campaign's 4th call; after resume_broadcasts a
    new worker calls everyone else. Nobody is called twice; the call in flight at the kill
    is reported unknown (Twilio had it), and nobody else is left out."""
    listed = numbers(9)
    path = tmp_path / "list.csv"
    path.write_text("number\n" + "\n".join(listed) + "\n")
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115  (closed below)
    workers = []
    with FakeTwilio() as fake:
        env = servers.server_env(
            worker_database,
            0,
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TELEPHONY_BACKEND="twilio",
            TWILIO_API_BASE_URL=fake.url,
            TELEPHONY_ACCOUNT_MAX_CALL_RATE="5",
            TELEPHONY_BROADCAST_CLAIM_TIMEOUT="1",
        )
        servers.manage(env, "migrate", "--noinput", "-v", "0")
        fixture = tmp_path / "reminder.json"
        fixture.write_text(json.dumps(REMINDER_FIXTURE))
        servers.manage(env, "loaddata", str(fixture))
        servers.manage(env, "publish_flows", "--note", "The reminder.")
        args = ["--csv", str(path), "--flow", "reminder", "--from", CALLER_ID]
        created = servers.manage(env, "send_broadcast", *args, "--rate", "3")
        assert "9 queued" in created.stdout, created.stdout
        try:
            workers.append(start_worker(env, log))
            # One call every 1/3 s: time enough to hold the 4th at Twilio's door.
            assert servers.wait_for(lambda: len(placed(fake)) >= 3, timeout=30, interval=0.01)
            hold = fake.hold_next(path_contains="Calls.json")
            assert hold.arrived.wait(10), "the 4th call never came"
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            hold.release()  # Twilio places it; nobody hears the answer
            in_flight = placed(fake)[-1].field("To")
            time.sleep(1.5)  # the dead worker's claims and heartbeat grow stale (1 s)
            resumed = servers.manage(env, "resume_broadcasts")
            workers.append(start_worker(env, log))

            def state():
                return servers.fetch_rows(worker_database, "SELECT state FROM telephony_broadcast")

            assert servers.wait_for(lambda: state() == [("done",)], timeout=30), state()
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
                    worker.wait(10)
            log.close()
    called = Counter(c.field("To") for c in placed(fake))
    assert set(called) == set(listed), (tmp_path / "worker.log").read_text()[-3000:]
    assert set(called.values()) == {1}, called  # nobody twice
    rows = dict(
        servers.fetch_rows(
            worker_database, "SELECT number, state FROM telephony_broadcastrecipient"
        )
    )
    assert rows.pop(in_flight) == "unknown"
    assert set(rows.values()) == {"sent"}, servers.fetch_rows(
        worker_database, "SELECT error_message FROM telephony_broadcastrecipient LIMIT 2"
    )
    assert resumed.returncode == 0


def test_admin_says_when_no_number_is_valid_and_edits_a_draft(admin_client, reminder):
    page = admin_client.post(
        "/admin/telephony/callcampaign/add/",
        {"name": "R", "flow_slug": "reminder", "phone_number": reminder.pk, "pasted": "nope"},
    )
    assert "There is no valid number to call." in page.content.decode()
    made = campaign(reminder, numbers(2), start=False).broadcast
    url = f"/admin/telephony/callcampaign/{made.pk}/change/"
    fields = {"name": "Tuesday reminders", "phone_number": reminder.pk, "rate": "0.5"}
    assert admin_client.post(url, fields).status_code == 302
    made = CallCampaign.objects.get()
    assert (made.name, made.rate, made.kind, made.flow_slug) == (
        "Tuesday reminders",
        0.5,
        "call",
        "reminder",
    )


def test_a_campaign_needs_the_public_url_twilio_fetches_the_flow_from(
    admin_client, reminder, settings
):
    settings.TELEPHONY_PUBLIC_URL = ""
    listed = recipients.parse_pasted("+14155550100")
    with pytest.raises(Exception, match="TELEPHONY_PUBLIC_URL"):
        services.create_call_campaign(
            name="x", flow_slug="reminder", recipients=listed, phone_number=reminder
        )
    page = admin_client.post(
        "/admin/telephony/callcampaign/add/",
        {
            "name": "R",
            "flow_slug": "reminder",
            "phone_number": reminder.pk,
            "pasted": "+14155550100",
        },
    )
    assert page.status_code == 200 and "Calls need TELEPHONY_PUBLIC_URL" in page.content.decode()
    assert not Broadcast.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_only_a_call_we_placed_pays_for_recording_the_option(reminder, fake_twilio, twilio_public):
    """The Gather of an inbound call costs what it did; a campaign's call one UPDATE more."""
    campaign(reminder, numbers(1))
    run_tasks()
    call = call_of(numbers(1)[0])
    gather = f"/twilio/releases/{live_release()}/flows/reminder/steps/1/gather/"
    inbound = voice_params(call, Direction="inbound", Digits="1")
    twilio_public.post(gather, inbound)  # the worker reads the release once
    with CaptureQueriesContext(connection) as inbound_queries:
        assert twilio_public.post(gather, inbound).status_code == 200
    with CaptureQueriesContext(connection) as outbound_queries:
        assert twilio_public.post(gather, voice_params(call, Digits="1")).status_code == 200

    def touching_recipients(queries):
        return [q["sql"] for q in queries.captured_queries if "broadcastrecipient" in q["sql"]]

    assert touching_recipients(inbound_queries) == []
    [update] = touching_recipients(outbound_queries)
    assert update.startswith("UPDATE") and len(outbound_queries) == len(inbound_queries) + 1
    assert BroadcastRecipient.objects.get().pressed == "1"


# --- in a real browser ---------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_start_a_campaign_and_read_its_outcomes_in_the_browser(
    live_server, reminder, django_user_model
):
    """Under the admin's Content-Security-Policy: the add form lists the live flows, a
    campaign is created and started from it, and a campaign's page shows each person's
    outcome and option pressed (tests/test_browser.py's harness reports any violation)."""
    from tests.test_browser import _missing, browser_page, shot

    if _missing():
        pytest.skip(_missing())
    from tests.test_browser import CHROMIUM

    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    earlier = campaign(reminder, numbers(2, start=50), start=False).broadcast
    for number, status, key in [("+14155550050", "completed", "2"), ("+14155550051", "busy", "")]:
        log = CallLog.objects.create(direction="outbound", to_number=number, status=status)
        earlier.recipients.filter(number=number).update(state=State.SENT, call=log, pressed=key)
    problems = []
    with browser_page(CHROMIUM, problems) as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/telephony/callcampaign/add/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-for-tests")
        page.click("input[type=submit]")
        page.wait_for_selector("#id_flow_slug")
        page.fill("#id_name", "Tuesday reminders")
        page.select_option("#id_flow_slug", "reminder")
        page.select_option("#id_phone_number", label=CALLER_ID)
        page.fill("#id_pasted", "+14155550100\n+14155550101\nnot a number\n")
        page.check("#id_start_now")
        shot(page, "08-call-campaign-add")
        page.click("input[name=_save]")
        page.wait_for_selector("ul.messagelist")
        message = page.inner_text("ul.messagelist")
        listing = page.inner_text("#result_list")
        page.goto(f"{live_server.url}/admin/telephony/callcampaign/{earlier.pk}/change/")
        page.wait_for_selector("progress.broadcast-progress")
        people = page.inner_text(".field-people")
        shot(page, "09-call-campaign-outcomes")
    assert problems == [], "\n".join(problems)
    assert "2 to call, 0 opted out, 0 blocked, 1 invalid" in message
    assert "Tuesday reminders" in listing and "1 answered, 1 busy, 1 pressed 2" in listing
    assert "+14155550050\tanswered\t2" in people and "+14155550051\tbusy\t-" in people
    made = CallCampaign.objects.get(name="Tuesday reminders")
    assert made.state == Broadcast.State.SENDING and made.recipients.count() == 2


def test_a_running_campaigns_page_names_its_settings_as_calls(admin_client, reminder, settings):
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 1
    made = campaign(reminder, numbers(1), rate=5).broadcast  # capped by the account: 1/s
    html = admin_client.get(f"/admin/telephony/callcampaign/{made.pk}/change/").content.decode()
    assert "Caller ID" in html and "Calls per second" in html and "Message segments" not in html
    assert '<div class="readonly">1</div>' in html and CALLER_ID in html


@pytest.mark.django_db(transaction=True)
def test_an_option_the_database_could_not_take_is_logged_and_replayed(
    reminder, fake_twilio, twilio_public, monkeypatch, caplog, tmp_path
):
    """The person pressed 1 while the write failed: they hear the confirmation all the
    same, the request is logged for replay_webhook, and replaying it records the 1."""
    campaign(reminder, numbers(1))
    run_tasks()
    call = call_of(numbers(1)[0])

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "record_pressed", database_gone)
    root = answer(twilio_public, call, "1")
    assert [s.text for s in root.iter("Say")] == ["Confirmed, thank you."]
    assert BroadcastRecipient.objects.get().pressed == ""
    lines = [r.getMessage() for r in caplog.records if "replay_webhook" in r.getMessage()]
    assert len(lines) == 1 and call.sid in lines[0]
    monkeypatch.undo()
    log = tmp_path / "web.log"
    log.write_text(lines[0] + "\n")
    out = StringIO()
    call_command("replay_webhook", str(log), stdout=out)
    assert "Replayed 1 webhook(s); 0 failed." in out.getvalue()
    assert BroadcastRecipient.objects.get().pressed == "1"


def test_a_call_rate_of_zero_is_a_configuration_error(settings):
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 0
    with pytest.raises(Exception, match="telephony.E007.*TELEPHONY_ACCOUNT_MAX_CALL_RATE is 0"):
        call_command("check")
    settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE = 2
    call_command("check")
