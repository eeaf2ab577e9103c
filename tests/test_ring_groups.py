"""Ring groups: a Dial rings several people at once or in turn, optionally screened, so
a call nobody accepts is unanswered and goes to the step's no-answer flow."""

import pytest
from django.core.exceptions import ValidationError

from telephony.models import Step
from telephony.tools.simulator import CallSimulator
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish, step_path

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
ALICE, BOB, CAROL = "+14155550101", "+14155550102", "+14155550103"


def sales(**dial):
    voicemail = make_flow("vm", steps=[{"verb": "say", "text": "Nobody took it."}])
    flow = make_flow(
        "sales",
        name="Sales",
        steps=[
            {"verb": "dial", "dial_target": ALICE, "timeout": 15, "next_flow": voicemail, **dial}
        ],
    )
    make_number(DEMO, flow)
    publish()
    return flow


def call(twilio):
    return parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "CallSid": "CA1"}))


def dial_outcome(twilio, query="", **params):
    return parse_twiml(twilio.post(step_path("sales", "dial", "dial") + query, params))


def test_all_at_once_is_one_dial_with_every_person(db, twilio):
    sales(ring_others=f"{BOB}\nclient:carol")
    dial = call(twilio).find("Dial")
    assert [(child.tag, child.text) for child in dial] == [
        ("Number", ALICE),
        ("Number", BOB),
        ("Client", "carol"),
    ]
    assert dial.get("timeout") == "15"
    root = dial_outcome(twilio, DialCallStatus="no-answer")
    assert [s.text for s in root.iter("Say")] == ["Nobody took it."]


def test_one_after_another_rings_each_in_turn_then_the_no_answer_flow(db, twilio):
    sales(ring_others=f"{BOB}\n{CAROL}", ring_mode="in_turn")
    dial = call(twilio).find("Dial")
    assert [child.text for child in dial] == [ALICE]
    assert dial.get("action").endswith("/dial/?ring=0")
    seen = []
    query = "?ring=0"
    for _ in range(2):
        root = dial_outcome(twilio, query, DialCallStatus="no-answer")
        dial = root.find("Dial")
        seen.append(dial.find("Number").text)
        query = "?" + dial.get("action").split("?", 1)[1]
    assert seen == [BOB, CAROL]
    root = dial_outcome(twilio, query, DialCallStatus="busy")
    assert [s.text for s in root.iter("Say")] == ["Nobody took it."]
    assert verbs(dial_outcome(twilio, "?ring=1", DialCallStatus="completed")) == ["Hangup"]


def test_screening_asks_the_person_answering_and_only_an_accepted_call_counts(db, twilio):
    sales(ring_others=BOB, screen=True)
    dial = call(twilio).find("Dial")
    screen_url = dial.find("Number").get("url")
    assert screen_url == step_path("sales", "dial", "screen")
    whisper = parse_twiml(twilio.post(screen_url, {"CallSid": "CA2", "ParentCallSid": "CA1"}))
    assert verbs(whisper) == ["Gather", "Hangup"]
    assert whisper.find("Gather/Say").text == "Call for Sales. Press 1 to accept."
    accept = whisper.find("Gather").get("action")
    assert verbs(parse_twiml(twilio.post(accept, {"Digits": "1"}))) == []  # bridged
    assert verbs(parse_twiml(twilio.post(accept, {"Digits": "7"}))) == ["Hangup"]
    # Answered by a phone but not accepted: unanswered, to the step's no-answer flow.
    root = dial_outcome(twilio, DialCallStatus="completed", DialBridged="false")
    assert [s.text for s in root.iter("Say")] == ["Nobody took it."]
    assert verbs(dial_outcome(twilio, DialCallStatus="completed", DialBridged="true")) == ["Hangup"]


def test_the_screening_text_can_be_the_steps_own(db, twilio):
    sales(screen=True, text="Sales line call.")
    screen_url = call(twilio).find("Dial/Number").get("url")
    assert parse_twiml(twilio.post(screen_url, {})).find("Gather/Say").text == (
        "Sales line call. Press 1 to accept."
    )


@pytest.mark.parametrize(
    "others, message",
    [
        ("+1415", "Not a number"),
        ("client:bad name", "Not a number"),
        ("\n".join([BOB] * 10), "at most"),
    ],
)
def test_bad_people_to_ring_are_refused_next_to_the_field(db, others, message):
    flow = make_flow("x")
    step = Step(flow=flow, position=1, verb="dial", dial_target=ALICE, ring_others=others)
    with pytest.raises(ValidationError) as caught:
        step.full_clean()
    assert message in caught.value.message_dict["ring_others"][0]


def test_numbers_to_ring_are_stored_as_e164(db):
    flow = make_flow("x")
    step = Step(
        flow=flow, position=1, verb="dial", dial_target=ALICE, ring_others="+1 415 555 0102"
    )
    step.full_clean()
    assert step.ring_others == BOB


def test_the_simulator_shows_the_group_and_the_screening(db):
    sales(ring_others=BOB, screen=True)
    transcript = CallSimulator(dial_status="no-answer").run_number(DEMO)
    dial_line = next(line.text for line in transcript.lines if line.kind == "dial")
    assert f"number {ALICE}, number {BOB}" in dial_line and "screened" in dial_line
