"""Voicemail: boxes, the Record TwiML's callbacks, one row per recording, the notices."""

import itertools
import threading

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection

from telephony.models import CallFlow, Step, Voicemail, VoicemailBox
from telephony.tools import flow_checks
from tests.conftest import parse_twiml, run_tasks
from tests.factories import publish, step_path

pytestmark = pytest.mark.django_db

ACCOUNT = "AC" + "0" * 32
RECORDING = "RE" + "a" * 32
CALL = "CA" + "b" * 32
CALLER = "+14155551234"
DEMO_NUMBER = "+15005550006"


def recording_url(sid=RECORDING):
    return f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}"


def record_step():
    return Step.objects.get(flow__slug="voicemail", verb="record")


def common(sid=RECORDING, call=CALL):
    return {
        "CallSid": call,
        "AccountSid": ACCOUNT,
        "From": CALLER,
        "To": DEMO_NUMBER,
        "RecordingSid": sid,
        "RecordingUrl": recording_url(sid),
    }


def callback_path(name):
    """The Record step's `name` webhook (record, recording, transcription), live release."""
    return step_path("voicemail", "record", name)


def action(twilio, *, duration="7", sid=RECORDING, **extra):
    params = {**common(sid), "RecordingDuration": duration, "Digits": "#", **extra}
    return twilio.post(callback_path("record"), params)


def recording_callback(twilio, *, status="completed", duration="7", sid=RECORDING, **extra):
    step = record_step()
    params = {**common(sid), "RecordingStatus": status, "RecordingDuration": duration, **extra}
    return twilio.post(f"{callback_path('recording')}?box={step.box_id}", params)


def transcription(
    twilio, *, text="Hi, it is Ann, please call me back.", status="completed", sid=RECORDING
):
    step = record_step()
    params = {
        **common(sid),
        "TranscriptionSid": "TR" + "c" * 32,
        "TranscriptionText": text,
        "TranscriptionStatus": status,
        "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Transcriptions/TR{'c' * 32}",
    }
    return twilio.post(f"{callback_path('transcription')}?box={step.box_id}", params)


# --- the models ------------------------------------------------------------------------------


def test_a_box_checks_addresses_phones_and_time_zone():
    box = VoicemailBox(
        name="Desk", notify_emails="a@example.com\nnot-an-address", time_zone="Mars/Base"
    )
    with pytest.raises(ValidationError) as caught:
        box.full_clean()
    assert "not-an-address" in str(caught.value.message_dict["notify_emails"])
    assert "time zone" in caught.value.message_dict["time_zone"][0]
    box = VoicemailBox(name="Desk", notify_phones="12345\n+14155550101", time_zone="UTC")
    with pytest.raises(ValidationError) as caught:
        box.full_clean()
    assert "12345" in caught.value.message_dict["notify_phones"][0]
    box.notify_phones = "+1 415 555 0100, +14155550101"
    box.full_clean()
    assert box.sms_recipients() == ["+14155550100", "+14155550101"]


def test_a_record_step_needs_a_box_once_any_box_exists():
    flow = CallFlow.objects.create(name="VM", slug="vm")
    step = Step(flow=flow, position=1, verb=Step.Verb.RECORD)
    step.full_clean()  # no box anywhere: allowed (check_flows warns)
    VoicemailBox.objects.create(name="Front desk")
    with pytest.raises(ValidationError) as caught:
        step.full_clean()
    assert "voicemail box" in caught.value.message_dict["box"][0]


def test_the_demo_records_into_front_desk(live_demo):
    step = record_step()
    assert step.box.name == "Front desk"
    assert step.box.email_recipients() == ["frontdesk@example.com"]


# --- TwiML --------------------------------------------------------------------------------------


def test_the_record_twiml_asks_for_the_recording_and_transcription_callbacks(live_demo, twilio):
    step = record_step()
    root = parse_twiml(twilio.post("/twilio/voice/flows/voicemail/", {"CallSid": CALL}))
    record = root.find("Record")
    assert record.get("recordingStatusCallback") == (
        f"/twilio/releases/1/flows/voicemail/steps/2/recording/?box={step.box_id}"
    )
    assert record.get("recordingStatusCallbackMethod") == "POST"
    assert record.get("recordingStatusCallbackEvent").split() == ["completed", "absent"]
    assert record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == (
        f"/twilio/releases/1/flows/voicemail/steps/2/transcription/?box={step.box_id}"
    )


def test_without_transcription_there_is_no_transcribe_callback(live_demo, twilio, settings):
    settings.TELEPHONY_PUBLIC_URL = "https://switchboard.example.com"
    Step.objects.filter(verb="record").update(transcribe=False)
    publish()
    twilio.base = "https://switchboard.example.com"
    root = parse_twiml(twilio.post("/twilio/voice/flows/voicemail/", {"CallSid": CALL}))
    record = root.find("Record")
    assert record.get("transcribeCallback") is None
    assert record.get("recordingStatusCallback").startswith(
        "https://switchboard.example.com/twilio/releases/2/flows/voicemail/steps/2/recording/"
    )


# --- one row per recording, in any order --------------------------------------------------------

CALLBACKS = {"action": action, "recording": recording_callback, "transcription": transcription}


@pytest.mark.parametrize("order", list(itertools.permutations(CALLBACKS)))
def test_callbacks_in_any_order_and_repeated_make_one_complete_row(live_demo, twilio, order):
    for name in (*order, *order):  # every callback twice
        response = CALLBACKS[name](twilio)
        assert response.status_code == 200, response.content
    voicemail = Voicemail.objects.get()
    assert voicemail.recording_sid == RECORDING
    assert voicemail.box.name == "Front desk"
    assert (voicemail.caller, voicemail.called, voicemail.call_sid) == (CALLER, DEMO_NUMBER, CALL)
    assert voicemail.flow.slug == "voicemail" and voicemail.step == record_step()
    assert voicemail.recording_url == recording_url()
    assert voicemail.duration == 7
    assert voicemail.recording_status == "completed"
    assert voicemail.transcript == "Hi, it is Ann, please call me back."
    assert voicemail.transcript_status == "completed"
    assert voicemail.state == Voicemail.State.NEW


def test_the_record_action_still_routes_the_caller(live_demo, twilio):
    root = parse_twiml(action(twilio))
    assert root.find("Say").text == "Thank you for your message. Goodbye."


@pytest.mark.parametrize(
    "send",
    [
        lambda t: action(t, duration="0"),
        lambda t: recording_callback(t, status="absent", duration="0"),
        lambda t: recording_callback(t, status="absent", duration="3"),
    ],
)
def test_an_empty_recording_is_no_voicemail(live_demo, twilio, send):
    assert send(twilio).status_code == 200
    assert not Voicemail.objects.exists()


def test_a_simulated_call_stores_no_voicemail(live_demo, twilio):
    from telephony.webhooks.signatures import SIMULATION_PARAM

    action(twilio, **{SIMULATION_PARAM: "1"})
    assert not Voicemail.objects.exists()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"RecordingSid": "not-a-sid"},
        {"RecordingSid": RECORDING[:-1] + "\x00", "From": "\x00\x00"},
        {
            "RecordingSid": RECORDING,
            "RecordingDuration": "99999999999999",
            "From": "junk\x00",
        },
        {
            "RecordingSid": RECORDING,
            "RecordingDuration": "-4",
            "RecordingUrl": "javascript:alert(1)",
        },
        {"RecordingSid": RECORDING, "From": "x" * 5000, "To": "🙂" * 300},
    ],
)
def test_bad_input_never_makes_a_500(live_demo, twilio, params):
    step = record_step()
    for path in (
        f"{callback_path('recording')}?box=abc",
        f"{callback_path('transcription')}?box=99999999999999999999",
        "/twilio/releases/1/flows/voicemail/steps/999/recording/",
        "/twilio/releases/999/flows/nope/steps/1/transcription/",
        f"/twilio/voicemail/steps/{step.pk}/recording/?box=abc",  # from before releases
        "/twilio/voicemail/steps/999999/recording/",
        callback_path("record"),
    ):
        response = twilio.post(path, params)
        assert response.status_code == 200, (path, response.content)
    for voicemail in Voicemail.objects.all():
        assert "\x00" not in voicemail.caller and voicemail.recording_url == ""


def test_an_unsigned_callback_is_refused(live_demo, client):
    from urllib.parse import urlencode

    from tests.conftest import FORM

    path = callback_path("recording")
    response = client.post(path, urlencode(common()), content_type=FORM)
    assert response.status_code == 403
    assert not Voicemail.objects.exists()


def test_a_callback_that_cannot_be_stored_is_503_and_logged_for_replay(
    live_demo, twilio, monkeypatch, caplog
):
    from django.db import OperationalError

    from telephony.voicemail import recordings

    def database_gone(report):
        raise OperationalError("database is away")

    monkeypatch.setattr(recordings, "record", database_gone)
    response = recording_callback(twilio)
    assert response.status_code == 503
    assert any("replay with manage.py replay_webhook:" in r.getMessage() for r in caplog.records)


def test_a_box_deleted_mid_call_leaves_the_message_for_superusers(live_demo, twilio):
    path = f"{callback_path('recording')}?box={record_step().box_id}"
    VoicemailBox.objects.all().delete()  # the release still names it; it is gone
    twilio.post(path, {**common(), "RecordingStatus": "completed", "RecordingDuration": "5"})
    assert Voicemail.objects.get().box is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
def test_concurrent_callbacks_for_one_recording_make_one_row(client):
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    from tests.conftest import SignedClient

    call_command("loaddata", "demo", verbosity=0)
    barrier = threading.Barrier(9)
    statuses = []
    senders = [action, recording_callback, transcription] * 3

    def deliver(send):
        try:
            barrier.wait()
            statuses.append(send(SignedClient(Client())).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(send,)) for send in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 9
    voicemail = Voicemail.objects.get()
    assert (
        voicemail.duration == 7
        and voicemail.transcript
        and voicemail.recording_status == "completed"
    )


# --- notices -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_transcript_completes_the_message_and_one_email_goes_out(live_demo, twilio):
    action(twilio)
    recording_callback(twilio)
    run_tasks()
    assert mail.outbox == []  # waiting for the transcript (or TELEPHONY_TRANSCRIPT_WAIT)
    transcription(twilio)
    transcription(twilio)  # Twilio retried
    run_tasks()
    action(twilio)
    recording_callback(twilio)
    run_tasks()
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    voicemail = Voicemail.objects.get()
    assert email.to == ["frontdesk@example.com"]
    assert email.subject == f"New voicemail in Front desk from {CALLER}"
    assert f"From:          {CALLER}" in email.body
    assert f"Number called: {DEMO_NUMBER}" in email.body
    local = voicemail.created_at.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert local.strftime("%H:%M") in email.body and local.tzname() in email.body
    assert "Length:        7 seconds" in email.body
    assert "Hi, it is Ann, please call me back." in email.body
    assert (
        f"https://switchboard.example.com/admin/telephony/voicemail/{voicemail.pk}/change/"
        in email.body
    )
    assert voicemail.notice_status == Voicemail.Notice.SENT


@pytest.mark.django_db(transaction=True)
def test_without_a_transcript_the_notice_goes_after_the_wait(live_demo, twilio, settings):
    settings.TELEPHONY_TRANSCRIPT_WAIT = 0
    action(twilio)
    run_tasks()
    assert len(mail.outbox) == 1
    assert "(no transcript yet)" in mail.outbox[0].body
    transcription(twilio)  # too late for the notice, kept on the row
    run_tasks()
    assert len(mail.outbox) == 1
    assert Voicemail.objects.get().transcript.startswith("Hi, it is Ann")


@pytest.mark.django_db(transaction=True)
def test_a_step_that_does_not_transcribe_notifies_at_once_and_texts_staff(
    live_demo, twilio, outbox
):
    Step.objects.filter(verb="record").update(transcribe=False)
    publish()
    VoicemailBox.objects.update(notify_phones="+14155550199")
    recording_callback(twilio)
    action(twilio)
    run_tasks()
    assert len(mail.outbox) == 1 and "(not transcribed)" in mail.outbox[0].body
    assert [message.to for message in outbox] == ["+14155550199"]
    assert "New voicemail in Front desk from +14155551234 (7s)" in outbox[0].body


class BrokenEmailBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server refused the connection")


@pytest.mark.django_db(transaction=True)
def test_a_failed_notice_keeps_the_voicemail_shows_the_error_and_retries(
    live_demo, twilio, settings
):
    settings.EMAIL_BACKEND = "tests.test_voicemail.BrokenEmailBackend"
    settings.TELEPHONY_TASK_RETRY_ATTEMPTS = 2
    settings.TELEPHONY_TASK_RETRY_DELAY = 0
    settings.TELEPHONY_TASK_RETRY_MAX_DELAY = 0
    settings.TELEPHONY_TRANSCRIPT_WAIT = 3600
    action(twilio)
    transcription(twilio)
    run_tasks()
    voicemail = Voicemail.objects.get()
    assert voicemail.notice_status == Voicemail.Notice.FAILED
    assert voicemail.notice_attempts == 2
    assert "SMTP server refused the connection" in voicemail.notice_error
    assert voicemail.transcript and voicemail.duration == 7  # the message itself is intact


def test_a_box_with_nobody_to_tell_says_so(live_demo, twilio):
    from telephony.voicemail import notices

    VoicemailBox.objects.update(notify_emails="")
    action(twilio)
    voicemail = Voicemail.objects.get()
    assert notices.deliver(voicemail_id=voicemail.pk) == Voicemail.Notice.NOBODY
    assert notices.deliver(voicemail_id=voicemail.pk) == "skipped"


# --- flow checks -----------------------------------------------------------------------------------


def test_check_flows_on_a_record_step_without_a_box():
    flow = CallFlow.objects.create(name="VM", slug="vm")
    Step.objects.create(flow=flow, position=1, verb=Step.Verb.RECORD)
    [finding] = [f for f in flow_checks.find_problems() if "box" in f.message]
    assert finding.severity == flow_checks.WARNING
    VoicemailBox.objects.create(name="Front desk")
    [finding] = [f for f in flow_checks.find_problems() if "box" in f.message]
    assert finding.severity == flow_checks.ERROR
