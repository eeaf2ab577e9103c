"""Call journeys through the real signed webhooks: each answer's events, and the outcome.

The tests write events inside the request (TELEPHONY_CALL_LOG_WRITES=immediate, the test
settings); tests/test_journey_writer.py runs the background writer.
"""

import pytest

from telephony.flows import twiml
from telephony.logs import journeys
from telephony.models import CallerRule, CallEvent, CallLog, CallOutcome, Step
from tests.conftest import parse_twiml, verbs
from tests.factories import flow_path, make_flow, make_number, publish, step_path

pytestmark = pytest.mark.django_db

Kind = CallEvent.Kind
DEMO = "+15005550006"
CALLER = "+14155551234"
CALL = "CA" + "c" * 32
ACCOUNT = "AC" + "0" * 32
RECORDING = "RE" + "d" * 32


def events(call=CALL):
    return list(CallEvent.objects.filter(call_sid=call).order_by("at", "pk"))


def kinds(call=CALL):
    return [event.kind for event in events(call)]


def details(call=CALL):
    return [event.detail for event in events(call)]


def outcome(call=CALL):
    return CallLog.objects.get(sid=call).outcome


def post(twilio, path, params=None, call=CALL):
    return parse_twiml(
        twilio.post(path, {"CallSid": call, "From": CALLER, "To": DEMO, **(params or {})})
    )


def ring(twilio, call=CALL, caller=CALLER):
    return parse_twiml(
        twilio.post(
            "/twilio/voice/",
            {"CallSid": call, "From": caller, "To": DEMO, "CallStatus": "ringing"},
        )
    )


def gather(twilio, params, attempt=None, call=CALL):
    path = step_path("main-menu", "gather", "gather")
    return post(twilio, f"{path}?try={attempt}" if attempt else path, params, call)


def ended(twilio, status="completed", duration="65", call=CALL):
    twilio.post(
        "/twilio/status/",
        {
            "CallSid": call,
            "CallStatus": status,
            "CallDuration": duration,
            "Direction": "inbound",
            "From": CALLER,
            "To": DEMO,
        },
    )


def recording_callback(twilio, duration="34"):
    step = Step.objects.get(flow__slug="voicemail", verb="record")
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{RECORDING}"
    path = step_path("voicemail", "record", "recording")
    params = {
        "AccountSid": ACCOUNT,
        "RecordingSid": RECORDING,
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingDuration": duration,
    }
    return twilio.post(
        f"{path}?box={step.box_id}", {"CallSid": CALL, "From": CALLER, "To": DEMO, **params}
    )


# --- the demo, call by call ------------------------------------------------------------


def test_a_call_starts_in_its_flow_and_waits_in_the_menu(live_demo, twilio):
    ring(twilio)
    got = events()
    # What the caller heard through the document is one event, a line per step; it is
    # the menu's (its kind, step and try), where the document leaves the caller. Who
    # called which number, and the flow, are the call's row (not stored twice).
    assert [e.kind for e in got] == [Kind.PROMPT]
    assert {e.release for e in got} == {1}
    played, hours, asked = got[0].detail.splitlines()
    assert played == 'played "Thank you for calling the Switchboard demo."'
    assert hours.startswith("open (Office hours")
    assert asked.startswith('asked "For sales, press 1.')
    assert (got[0].flow, got[0].position, got[0].try_number) == ("main-menu", 3, 1)
    log = CallLog.objects.get(sid=CALL)
    assert (log.from_number, log.to_number, log.flow.slug) == (CALLER, DEMO, "main-menu")
    assert outcome() == ""  # nothing decided yet


def test_sales_rings_nobody_answers_a_voicemail_is_left_and_the_flow_hangs_up(live_demo, twilio):
    ring(twilio)
    gather(twilio, {"Digits": "1"})
    got = events()[1:]
    assert [(e.kind, e.flow, e.detail) for e in got] == [
        (Kind.INPUT, "main-menu", "pressed 1 -> Sales"),  # no FLOW_ENTERED: this names it
        (
            Kind.DIAL_STARTED,
            "sales",
            'played "Connecting you to our sales team."\nrang +14155550100, +14155550101',
        ),
    ]
    assert (got[0].digits, got[0].option) == ("1", "1")

    post(twilio, step_path("sales", "dial", "dial"), {"DialCallStatus": "no-answer"})
    dial = events()[3]
    assert (dial.kind, dial.option, dial.duration) == (Kind.DIAL_ENDED, "no-answer", 20)
    assert dial.detail == "rang +14155550100, +14155550101 (no answer, 20 s)"
    assert outcome() == CallOutcome.MISSED
    assert kinds()[4:] == [Kind.FLOW_ENTERED, Kind.PROMPT]  # voicemail: its prompt, recording
    assert events()[-1].detail.splitlines()[1] == "recording a message"

    assert recording_callback(twilio).status_code == 200
    assert events()[-1].kind == Kind.VOICEMAIL
    assert events()[-1].detail == "left a voicemail (34 s) in Front desk"
    assert events()[-1].duration == 34
    assert outcome() == CallOutcome.VOICEMAIL

    root = post(twilio, step_path("voicemail", "record", "record"), {"RecordingDuration": "34"})
    assert verbs(root) == ["Say", "Hangup"]
    assert kinds()[-2:] == [Kind.FLOW_ENTERED, Kind.HUNG_UP]  # "thank you", then hung up
    assert events()[-1].option == journeys.BY_SWITCHBOARD

    ended(twilio, duration="65")
    last = events()[-1]
    assert (last.kind, last.option, last.duration) == (Kind.CALL_ENDED, "completed", 65)
    assert last.detail == "call ended after 1 min 5 s"
    assert kinds().count(Kind.HUNG_UP) == 1  # the flow hung up: nobody else did
    assert outcome() == CallOutcome.VOICEMAIL


def test_a_caller_who_hangs_up_in_the_menu_abandoned_it(live_demo, twilio):
    ring(twilio)
    ended(twilio, duration="4")
    assert kinds()[-2:] == [Kind.HUNG_UP, Kind.CALL_ENDED]
    hung_up = events()[-2]
    assert (hung_up.option, hung_up.detail) == (
        journeys.BY_CALLER_IN_MENU,
        "caller hung up in the menu",
    )
    assert (hung_up.flow, hung_up.position) == ("main-menu", 3)  # which menu
    assert outcome() == CallOutcome.ABANDONED


def test_twilio_retrying_the_final_status_callback_ends_the_journey_once(live_demo, twilio):
    ring(twilio)
    ended(twilio)
    ended(twilio)
    assert kinds().count(Kind.CALL_ENDED) == 1
    assert kinds().count(Kind.HUNG_UP) == 1


def test_a_wrong_key_then_silence_then_giving_up_counts_the_tries(live_demo, twilio):
    ring(twilio)
    gather(twilio, {"Digits": "9"})
    invalid, again = events()[1:3]
    assert (invalid.kind, invalid.digits, invalid.try_number) == (Kind.INVALID_INPUT, "9", 1)
    assert invalid.detail == "pressed 9: not an option (try 1 of 3)"
    assert (again.kind, again.try_number) == (Kind.PROMPT, 2)
    assert again.detail.endswith("(try 2 of 3)")

    gather(twilio, {}, attempt=2)
    silent = events()[3]
    assert (silent.kind, silent.try_number) == (Kind.NO_INPUT, 2)
    assert silent.detail == "no choice made (try 2 of 3)"

    gather(twilio, {}, attempt=3)  # the last try: the menu's no-choice flow, voicemail
    assert [(e.kind, e.flow) for e in events()[5:7]] == [
        (Kind.NO_INPUT, "main-menu"),
        (Kind.FLOW_ENTERED, "voicemail"),
    ]
    ended(twilio)  # hung up at the beep, without a message
    assert outcome() == CallOutcome.COMPLETED


def test_speech_chooses_an_option(live_demo, twilio):
    ring(twilio)
    gather(twilio, {"SpeechResult": "Sales please"})
    chosen = events()[1]
    assert (chosen.kind, chosen.speech, chosen.option) == (Kind.INPUT, "Sales please", "1")
    assert chosen.detail == 'said "Sales please" -> Sales'


def test_an_answered_dial_is_answered_with_its_duration(live_demo, twilio):
    ring(twilio)
    gather(twilio, {"Digits": "1"})
    post(
        twilio,
        step_path("sales", "dial", "dial"),
        {"DialCallStatus": "completed", "DialCallDuration": "125", "DialBridged": "true"},
    )
    dial = events()[-1]
    assert (dial.kind, dial.option, dial.duration) == (Kind.DIAL_ENDED, "completed", 125)
    assert dial.detail.endswith("(answered, 2 min 5 s)")
    assert outcome() == CallOutcome.ANSWERED
    ended(twilio)
    assert events()[-2].option == journeys.AFTER_CONVERSATION
    assert outcome() == CallOutcome.ANSWERED


def test_a_screened_call_nobody_accepted_is_not_answered(live_demo, twilio):
    ring(twilio)
    gather(twilio, {"Digits": "1"})
    post(
        twilio,
        step_path("sales", "dial", "dial"),
        {"DialCallStatus": "completed", "DialBridged": "false"},
    )
    dial = events()[3]
    assert (dial.option, dial.detail) == (
        journeys.NOT_ACCEPTED,
        "rang +14155550100, +14155550101 (not accepted)",
    )
    assert outcome() == CallOutcome.MISSED


def test_a_caller_who_hangs_up_while_it_rings_is_missed(live_demo, twilio):
    ring(twilio)
    gather(twilio, {"Digits": "1"})
    ended(twilio)
    assert events()[-2].option == journeys.BY_CALLER_RINGING
    assert outcome() == CallOutcome.MISSED


def test_the_text_message_option_sends_a_text_and_the_flow_hangs_up(live_demo, twilio):
    ring(twilio)
    root = gather(twilio, {"Digits": "3"})
    assert verbs(root) == ["Redirect"]  # to the Sms step's webhook
    post(twilio, step_path("text-address", "sms", "sms"))
    sms, said = events()[-2:]
    assert (sms.kind, sms.option) == (Kind.SMS_SENT, "queued")
    assert sms.detail.startswith(f'texted {CALLER}: "Switchboard demo: 500 Example Street')
    assert said.kind == Kind.HUNG_UP and said.detail.startswith("played ")
    assert said.detail.splitlines()[-1] == "hung up"
    ended(twilio)
    assert outcome() == CallOutcome.COMPLETED


def test_closed_hours_say_why_and_where_the_caller_goes(live_demo, twilio, settings):
    settings.TELEPHONY_NOW = "2026-12-23T20:00:00-08:00"
    ring(twilio)
    decision = events()[0]
    assert (decision.kind, decision.option) == (Kind.SCHEDULE, "closed")
    greeting, hours = decision.detail.splitlines()
    assert greeting.startswith("played ")
    assert hours.startswith("closed (Office hours")
    assert hours.endswith("-> We are closed")
    assert kinds()[1:] == []  # Twilio leaves at the branch's Redirect
    post(twilio, flow_path("closed"))
    assert [(e.kind, e.flow) for e in events()[1:3]] == [
        (Kind.FLOW_ENTERED, "closed"),
        (Kind.PROMPT, "closed"),
    ]


def test_a_blocked_caller_is_rejected_by_its_rule(live_demo, twilio):
    rule = CallerRule(pattern="+1900*", action=CallerRule.Action.BUSY)
    rule.full_clean()
    rule.save()
    publish()
    root = ring(twilio, caller="+19005550123")
    assert verbs(root) == ["Reject"]
    assert kinds() == [Kind.CALLER_RULE, Kind.HUNG_UP]
    assert events()[0].option == "busy"
    assert events()[0].detail.startswith("caller rule +1900* (block)")
    assert events()[1].detail == "refused the call (a busy signal)"
    assert outcome() == CallOutcome.REJECTED
    ended(twilio, status="busy", duration="0")
    assert outcome() == CallOutcome.REJECTED


def test_an_unknown_number_hears_goodbye_and_switchboard_hangs_up(live_demo, twilio):
    twilio.post("/twilio/voice/", {"CallSid": CALL, "From": CALLER, "To": "+14155550999"})
    assert kinds() == [Kind.HUNG_UP]
    assert events()[0].option == journeys.BY_SWITCHBOARD
    assert events()[0].detail.splitlines() == [f'played "{twiml.NOT_IN_SERVICE}"', "ended the call"]


def test_a_simulated_call_records_no_events(live_demo, twilio):
    twilio.post(
        "/twilio/voice/",
        {"CallSid": CALL, "From": CALLER, "To": DEMO, "SwitchboardSimulation": "1"},
    )
    assert kinds() == []


def test_a_failed_call_is_failed(live_demo, twilio):
    ring(twilio)
    CallEvent.objects.all().delete()
    ended(twilio, status="failed", duration="0")
    assert outcome() == CallOutcome.FAILED


# --- queues, conferences, flows that end by themselves --------------------------------------


@pytest.fixture
def queue_line(db):
    after = make_flow("after", steps=[{"verb": "say", "text": "Nobody is free."}])
    flow = make_flow("q", steps=[{"verb": "enqueue", "dial_target": "support", "next_flow": after}])
    make_number(DEMO, flow)
    publish()


@pytest.mark.parametrize(
    ("result", "expected", "words"),
    [
        ("bridged", CallOutcome.ANSWERED, "answered after 34 s in queue support"),
        ("hangup", CallOutcome.MISSED, "hung up after 34 s in queue support"),
        ("leave", CallOutcome.MISSED, "left queue support unanswered after 34 s (leave)"),
    ],
)
def test_a_queue_says_how_long_the_caller_waited(queue_line, twilio, result, expected, words):
    ring(twilio)
    entered = events()[-1]
    assert (entered.kind, entered.detail) == (Kind.QUEUE_ENTERED, "waits in queue support")
    post(twilio, step_path("q", "enqueue", "enqueue"), {"QueueResult": result, "QueueTime": "34"})
    left = next(e for e in events() if e.kind == Kind.QUEUE_LEFT)
    assert (left.option, left.duration, left.detail) == (result, 34, words)
    assert outcome() == expected


def test_joining_a_conference_is_answered(db, twilio):
    meeting = make_flow(
        "meeting", steps=[{"verb": "conference", "dial_target": "Weekly sales"}, {"verb": "hangup"}]
    )
    make_number(DEMO, meeting)
    publish()
    ring(twilio)
    post(
        twilio,
        step_path("meeting", "conference", "conference/events"),
        {"StatusCallbackEvent": "participant-join", "FriendlyName": "Weekly sales"},
    )
    joined = events()[-1]
    assert (joined.kind, joined.detail) == (Kind.CONFERENCE, "joined the conference Weekly sales")
    assert outcome() == CallOutcome.ANSWERED


def test_a_flow_heard_to_its_end_is_completed(db, twilio):
    make_number(DEMO, make_flow("hello", steps=[{"verb": "say", "text": "Hello."}]))
    publish()
    ring(twilio)
    ended(twilio, duration="3")
    assert kinds()[-2:] == [Kind.HUNG_UP, Kind.CALL_ENDED]
    assert events()[-2].option == journeys.BY_CALLER
    assert outcome() == CallOutcome.COMPLETED


def test_a_redirect_enters_the_next_flow(db, twilio):
    target = make_flow("target", steps=[{"verb": "say", "text": "Here."}])
    make_number(DEMO, make_flow("start", steps=[{"verb": "redirect", "next_flow": target}]))
    publish()
    ring(twilio)
    assert kinds() == []  # the call's row names its flow: Twilio leaves at the Redirect
    post(twilio, flow_path("target"))
    assert [(e.kind, e.flow, e.detail) for e in events()] == [
        (Kind.FLOW_ENTERED, "target", "entered Target"),
        (Kind.PROMPT, "target", 'played "Here."'),
    ]
