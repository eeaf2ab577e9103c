"""Inbound SMS (/twilio/sms/), SMS rules and opt-outs, call logging, and Sms steps in flows."""

import json
import threading
from urllib.parse import urlencode

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from telephony.models import CallLog, MessageLog, OptOut, PhoneNumber, SmsRule, Step
from telephony.webhooks.voice import SmsStepWebhook
from tests.conftest import FORM, parse_twiml, run_tasks, verbs
from tests.factories import publish, step_path

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
CALLER = "+14155551234"
HOURS = "We are open Monday to Friday, 9am to 5pm Pacific time."


def sms(twilio, body, *, sid="SM" + "a" * 32, sender=CALLER, to=DEMO, **extra):
    params = {"MessageSid": sid, "SmsSid": sid, "From": sender, "To": to, "Body": body, **extra}
    return parse_twiml(twilio.post("/twilio/sms/", params))


def reply_of(root):
    message = root.find("Message")
    return None if message is None else (message.text or "")


# --- keyword rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["HOURS", "hours", "  Hours \n", "hOuRs"])
def test_demo_keyword_is_trimmed_and_case_insensitive(live_demo, twilio, body):
    assert reply_of(sms(twilio, body)) == HOURS


def test_anything_else_gets_the_default_reply(live_demo, twilio):
    assert reply_of(sms(twilio, "what's up?")).startswith("Thanks for your message!")
    assert reply_of(sms(twilio, "hours please", sid="SM" + "b" * 32)).startswith("Thanks")


def test_inbound_message_is_logged_with_its_reply(live_demo, twilio):
    sms(twilio, "hours", NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1")
    log = MessageLog.objects.get()
    assert (log.sid, log.direction, log.status) == ("SM" + "a" * 32, "inbound", "received")
    assert (log.from_number, log.to_number, log.body) == (CALLER, DEMO, "hours")
    assert log.media_urls == ["https://api.twilio.com/media/ME1"]
    assert log.reply == HOURS


def test_a_rule_with_media_replies_with_it(db, twilio):
    number = PhoneNumber.objects.create(number=DEMO)
    SmsRule.objects.create(
        phone_number=number, keyword="MAP", reply="Here", media_url="https://x.example/map.png"
    )
    publish()
    root = sms(twilio, "map")
    assert reply_of(root) == "Here"
    assert root.find("Message/Media").text == "https://x.example/map.png"


def test_a_number_without_rules_or_a_stranger_number_sends_no_reply(db, twilio):
    PhoneNumber.objects.create(number=DEMO)
    assert verbs(sms(twilio, "hello")) == []
    assert verbs(sms(twilio, "hello", sid="SM" + "b" * 32, to="+14155550100")) == []
    assert MessageLog.objects.count() == 2  # still logged


def test_help_gets_the_help_reply_unless_the_number_has_its_own(live_demo, twilio):
    assert "Reply STOP" in reply_of(sms(twilio, "help"))
    assert "Reply STOP" in reply_of(sms(twilio, "INFO", sid="SM" + "b" * 32))
    number = PhoneNumber.objects.get(number=DEMO)
    SmsRule.objects.create(phone_number=number, keyword="HELP", reply="Call us!")
    assert "Reply STOP" in reply_of(sms(twilio, "Help", sid="SM" + "c" * 32))  # the draft's
    publish()
    assert reply_of(sms(twilio, "Help", sid="SM" + "d" * 32)) == "Call us!"


# --- idempotency -----------------------------------------------------------------------------


def test_a_retried_webhook_is_processed_once(live_demo, twilio):
    assert reply_of(sms(twilio, "hours")) == HOURS
    retry = sms(twilio, "hours")
    assert verbs(retry) == []  # no second reply
    assert MessageLog.objects.count() == 1


def test_a_retried_stop_changes_nothing_more(live_demo, twilio):
    sms(twilio, "STOP")
    sms(twilio, "STOP")
    assert OptOut.objects.count() == 1 and MessageLog.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
def test_concurrent_retries_insert_one_row_and_reply_once(client):
    from django.core.management import call_command

    from tests.conftest import SignedClient

    call_command("loaddata", "demo", verbosity=0)
    publish()
    barrier = threading.Barrier(8)
    replies = []

    def deliver():
        from django.db import connections
        from django.test import Client

        try:
            barrier.wait()
            root = sms(SignedClient(Client()), "hours", sid="SM" + "d" * 32)
            replies.append(reply_of(root))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert MessageLog.objects.filter(sid="SM" + "d" * 32).count() == 1
    assert sorted(replies, key=str) == sorted([HOURS] + [None] * 7, key=str)


# --- opt-out keywords ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keyword",
    ["STOP", "stop", "StopAll", "UNSUBSCRIBE", "cancel", "END", "quit", "REVOKE", "optout"],
)
def test_opt_out_keywords_record_an_opt_out_and_answer_empty(live_demo, twilio, keyword):
    root = sms(twilio, f" {keyword} ")
    assert verbs(root) == []
    opt_out = OptOut.objects.get()
    assert str(opt_out.number) == CALLER
    assert (opt_out.source, opt_out.keyword) == ("keyword", keyword.upper())


@pytest.mark.parametrize("keyword", ["START", "yes", "Unstop"])
def test_opt_in_keywords_remove_the_opt_out(live_demo, twilio, keyword):
    sms(twilio, "STOP")
    assert verbs(sms(twilio, "hours", sid="SM" + "b" * 32)) == []  # opted out: no auto-reply
    assert verbs(sms(twilio, keyword, sid="SM" + "c" * 32)) == []
    assert not OptOut.objects.exists()
    assert reply_of(sms(twilio, "hours", sid="SM" + "e" * 32)) == HOURS


def test_stop_from_a_non_phone_sender_is_logged_without_error(live_demo, twilio, caplog):
    root = sms(twilio, "STOP", sender="whatsapp:alice")
    assert "Webhook /twilio/sms/ failed" not in caplog.text
    assert "Opt-out from 'whatsapp:alice' not recorded" in caplog.text
    assert verbs(root) == [] and not OptOut.objects.exists()
    assert MessageLog.objects.get().from_number == "whatsapp:alice"


# --- the webhook's contract ---------------------------------------------------------------------


def test_unsigned_requests_are_refused(live_demo, client):
    response = client.post(
        "/twilio/sms/", urlencode({"MessageSid": "SM1", "Body": "hours"}), content_type=FORM
    )
    assert response.status_code == 403
    assert not MessageLog.objects.exists()


def test_a_request_without_message_sid_gets_an_empty_response(live_demo, twilio):
    root = parse_twiml(twilio.post("/twilio/sms/", {"From": CALLER, "To": DEMO, "Body": "hi"}))
    assert verbs(root) == [] and not MessageLog.objects.exists()


def test_get_is_not_allowed(client):
    assert client.get("/twilio/sms/").status_code == 405


# --- SMS rules in the model -----------------------------------------------------------------------


def test_sms_rule_validation(db):
    number = PhoneNumber.objects.create(number=DEMO)
    rule = SmsRule(phone_number=number, keyword="  opening   hours ", reply="9-5")
    rule.full_clean()
    assert rule.keyword == "OPENING HOURS"
    for keyword in ("stop", "Start"):
        with pytest.raises(ValidationError, match="opt-out/opt-in keyword"):
            SmsRule(phone_number=number, keyword=keyword, reply="x").full_clean()
    with pytest.raises(ValidationError, match="at most 1600 characters; this reply has 1601"):
        SmsRule(phone_number=number, keyword="X", reply="x" * 1601).full_clean()
    with pytest.raises(ValidationError, match="reply text, a media URL, or both"):
        SmsRule(phone_number=number, keyword="X").full_clean()
    rule.save()
    with pytest.raises(ValidationError, match="already has a rule for this keyword"):
        SmsRule(phone_number=number, keyword="opening hours", reply="x").full_clean()


def test_sms_rules_have_natural_keys(live_demo):
    rule = SmsRule.objects.get(keyword="HOURS")
    assert rule.natural_key() == (DEMO, "HOURS")
    assert SmsRule.objects.get_by_natural_key(DEMO, "").reply.startswith("Thanks")


# --- every inbound call is logged once ------------------------------------------------------------


def test_inbound_calls_are_logged_once_per_call_sid(live_demo, twilio):
    params = {"To": DEMO, "From": CALLER, "CallSid": "CA" + "1" * 32, "CallStatus": "ringing"}
    for _ in range(3):  # Twilio retries
        parse_twiml(twilio.post("/twilio/voice/", params))
    log = CallLog.objects.get()
    assert (log.sid, log.direction, log.status) == ("CA" + "1" * 32, "inbound", "ringing")
    assert (log.from_number, log.to_number, log.flow.slug) == (CALLER, DEMO, "main-menu")


def test_calls_to_unknown_or_invalid_numbers_are_logged_too(db, twilio):
    twilio.post("/twilio/voice/", {"To": "+14155550100", "From": CALLER, "CallSid": "CA1"})
    twilio.post("/twilio/voice/", {"To": "garbage", "From": CALLER, "CallSid": "CA2"})
    assert list(CallLog.objects.order_by("sid").values_list("sid", "to_number", "flow")) == [
        ("CA1", "+14155550100", None),
        ("CA2", "garbage", None),
    ]


# --- a Sms step in a flow: the demo's option 3 -------------------------------------------------------


def sms_step_path():
    return step_path("text-address", "sms", "sms")


def test_the_demo_menu_offers_option_3(live_demo, twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "From": CALLER}))
    assert "press 3" in root.find("Gather/Say").text
    path = step_path("main-menu", "gather", "gather")
    root = parse_twiml(twilio.post(path, {"Digits": "3", "From": CALLER, "To": DEMO}))
    # The Sms step hands Twilio to its webhook; the steps after it run from there.
    assert verbs(root) == ["Redirect"]
    assert root.find("Redirect").text == sms_step_path()


@pytest.mark.django_db(transaction=True)  # a task worker sends it (tests/test_tasks.py)
def test_the_sms_step_texts_the_inbound_caller_then_carries_on(live_demo, twilio, outbox):
    params = {"CallSid": "CA9", "From": CALLER, "To": DEMO, "Direction": "inbound"}
    root = parse_twiml(twilio.post(sms_step_path(), params))
    assert verbs(root) == ["Say", "Hangup"]
    assert "sent our address" in root.find("Say").text
    assert outbox == [] and MessageLog.objects.get().status == "pending"  # queued
    run_tasks()
    [message] = outbox
    assert (message.to, message.from_) == (CALLER, DEMO)
    assert "500 Example Street" in message.body
    log = MessageLog.objects.get()
    assert (log.call_sid, log.step.flow.slug, log.status) == ("CA9", "text-address", "queued")


@pytest.mark.django_db(transaction=True)
def test_a_retried_sms_step_does_not_text_twice(live_demo, twilio, outbox):
    params = {"CallSid": "CA9", "From": CALLER, "To": DEMO, "Direction": "inbound"}
    first = parse_twiml(twilio.post(sms_step_path(), params))
    again = parse_twiml(twilio.post(sms_step_path(), params))
    run_tasks()
    assert verbs(first) == verbs(again) == ["Say", "Hangup"]
    assert len(outbox) == 1 and MessageLog.objects.count() == 1


def test_on_an_outbound_call_the_caller_is_to(live_demo, twilio):
    params = {"CallSid": "CA9", "From": DEMO, "To": CALLER, "Direction": "outbound-api"}
    parse_twiml(twilio.post(sms_step_path(), params))
    log = MessageLog.objects.get()
    assert (log.to_number, log.from_number) == (CALLER, DEMO)


@pytest.mark.parametrize("caller", ["anonymous", "client:alice"])
def test_a_caller_we_cannot_text_hears_so(live_demo, twilio, outbox, caller):
    params = {"CallSid": "CA9", "From": caller, "To": DEMO, "Direction": "inbound"}
    root = parse_twiml(twilio.post(sms_step_path(), params))
    assert [el.text for el in root.iter("Say")][0] == SmsStepWebhook.NOT_SENT
    assert verbs(root) == ["Say", "Say", "Hangup"] and outbox == []


def test_an_opted_out_caller_is_not_texted(live_demo, twilio, outbox):
    OptOut.objects.create(number=CALLER)
    params = {"CallSid": "CA9", "From": CALLER, "To": DEMO, "Direction": "inbound"}
    root = parse_twiml(twilio.post(sms_step_path(), params))
    assert root.find("Say").text == SmsStepWebhook.NOT_SENT and outbox == []


@pytest.mark.django_db(transaction=True)
def test_twilio_refusing_the_sms_does_not_break_the_call(live_demo, twilio, fake_twilio):
    fake_twilio.fail_next(400, 21614, "To number cannot receive SMS")
    params = {"CallSid": "CA9", "From": CALLER, "To": DEMO, "Direction": "inbound"}
    root = parse_twiml(twilio.post(sms_step_path(), params))
    assert verbs(root) == ["Say", "Hangup"]  # the call went on before Twilio was asked
    run_tasks()
    assert MessageLog.objects.get().error_code == 21614


def test_sms_step_validation(db):
    from tests.factories import make_flow

    flow = make_flow("f")
    with pytest.raises(ValidationError, match="This Sms step has no text"):
        Step(flow=flow, verb="sms", text=" ").full_clean()
    with pytest.raises(ValidationError, match="at most 1600 characters; this text has 1601"):
        Step(flow=flow, verb="sms", text="x" * 1601).full_clean()
    Step(flow=flow, verb="sms", text="x" * 1600).full_clean()


def test_sms_rules_travel_in_fixtures_by_natural_keys(live_demo, tmp_path):
    from django.core.management import call_command

    dump = tmp_path / "rules.json"
    call_command(
        "dumpdata",
        "telephony.callflow",
        "telephony.phonenumber",
        "telephony.smsrule",
        "--natural-foreign",
        "--natural-primary",
        output=str(dump),
        verbosity=0,
    )
    rules = [r for r in json.loads(dump.read_text()) if r["model"] == "telephony.smsrule"]
    assert {r["fields"]["phone_number"][0] for r in rules} == {DEMO}
    assert all("pk" not in r for r in rules)
    SmsRule.objects.all().delete()
    PhoneNumber.objects.all().delete()
    call_command("loaddata", str(dump), verbosity=0)
    assert sorted(SmsRule.objects.values_list("phone_number__number", "keyword")) == [
        (DEMO, ""),
        (DEMO, "HOURS"),
    ]


def test_a_call_is_answered_even_if_logging_it_fails(live_demo, twilio, monkeypatch, caplog):
    from telephony.logs import calls as calllog

    def broken(calls, **options):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(calllog, "write", broken)
    root = parse_twiml(
        twilio.post("/twilio/voice/", {"To": DEMO, "From": CALLER, "CallSid": "CA1"})
    )
    assert verbs(root) == ["Say", "Gather"]
    assert "Could not log inbound call CA1" in caplog.text
