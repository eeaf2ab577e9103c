"""The Conference step: a room, moderators who start and end it, hold music, recording,
a size limit; the call log names the room."""

import pytest
from django.core.exceptions import ValidationError

from telephony.models import CallLog, Direction, Step
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish, step_path

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
BOSS, GUEST = "+14155550170", "+14155550171"
MUSIC = "https://x.example/hold.mp3"


def room(**fields):
    after = make_flow("after", steps=[{"verb": "say", "text": "The meeting is over."}])
    flow = make_flow(
        "meeting",
        steps=[
            {"verb": "conference", "dial_target": "Weekly sales", "url": MUSIC, **fields},
            {"verb": "hangup"},
        ],
    )
    Step.objects.filter(flow=flow, verb="conference").update(next_flow=after)
    make_number(DEMO, flow)
    publish()
    return flow


def call(twilio, caller):
    return parse_twiml(
        twilio.post("/twilio/voice/", {"To": DEMO, "From": caller, "CallSid": "CA1"})
    )


def test_a_room_without_moderators_starts_with_the_first_caller(db, twilio):
    room(max_participants=10, record=True)
    root = call(twilio, GUEST)
    conference = root.find("Dial/Conference")
    assert conference.text == "Weekly sales"
    assert conference.get("startConferenceOnEnter") == "true"
    assert conference.get("endConferenceOnExit") == "false"
    assert (conference.get("waitUrl"), conference.get("waitMethod")) == (MUSIC, "GET")
    assert conference.get("record") == "record-from-start"
    assert conference.get("maxParticipants") == "10"
    assert conference.get("statusCallback") == step_path(
        "meeting", "conference", "conference/events"
    )
    assert root.find("Redirect").text.endswith("/flows/after/")  # when the caller leaves


def test_moderators_start_and_end_the_room_others_wait(db, twilio):
    room(moderators=f"{BOSS}")
    hop = call(twilio, GUEST).find("Redirect").text
    assert hop == step_path("meeting", "conference", "conference")
    guest = parse_twiml(twilio.post(hop, {"From": GUEST, "CallSid": "CA1"})).find("Dial/Conference")
    boss = parse_twiml(twilio.post(hop, {"From": BOSS, "CallSid": "CA2"})).find("Dial/Conference")
    assert (guest.get("startConferenceOnEnter"), guest.get("endConferenceOnExit")) == (
        "false",
        "false",
    )
    assert (boss.get("startConferenceOnEnter"), boss.get("endConferenceOnExit")) == (
        "true",
        "true",
    )
    outbound = parse_twiml(
        twilio.post(hop, {"From": DEMO, "To": BOSS, "Direction": "outbound-api"})
    ).find("Dial/Conference")
    assert outbound.get("endConferenceOnExit") == "true"  # on an outbound call, To is the caller


def test_the_call_log_names_the_room_a_caller_joined(db, twilio):
    room()
    CallLog.objects.create(
        sid="CA1", direction=Direction.INBOUND, from_number=GUEST, to_number=DEMO
    )
    events = step_path("meeting", "conference", "conference/events")
    params = {"CallSid": "CA1", "FriendlyName": "Weekly sales", "ConferenceSid": "CF1"}
    twilio.post(events, {**params, "StatusCallbackEvent": "participant-join"})
    assert CallLog.objects.get(sid="CA1").conference == "Weekly sales"
    assert (
        verbs(
            parse_twiml(twilio.post(events, {**params, "StatusCallbackEvent": "participant-leave"}))
        )
        == []
    )


def test_a_room_needs_a_name_and_moderators_are_numbers(db):
    flow = make_flow("x")
    step = Step(flow=flow, position=1, verb="conference", moderators="+1 415 555 0170\nboss")
    with pytest.raises(ValidationError) as caught:
        step.full_clean()
    assert "room's name" in caught.value.message_dict["dial_target"][0]
    assert "boss" in caught.value.message_dict["moderators"][0]
    step.dial_target, step.moderators = "Room", "+1 415 555 0170"
    step.full_clean()
    assert step.moderators == BOSS
