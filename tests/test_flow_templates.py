"""Flow templates: each creates a draft flow that passes the flow checks and plays sensibly
through the call simulator; parameters, reuse by name, errors keyed by parameter."""

import pytest
from django.core.exceptions import ValidationError

from telephony.flows.templates import (
    DEFAULT_FORWARD_TO,
    DEFAULT_HOLD_MUSIC,
    TEMPLATES,
    create_from_template,
    template_choices,
)
from telephony.models import CallFlow, MenuOption, Schedule, Step, VoicemailBox
from telephony.tools.flow_checks import ERROR, find_problems
from telephony.tools.simulator import CallSimulator, scripted_input

pytestmark = pytest.mark.django_db

KEYS = ["menu", "forward_voicemail", "after_hours", "queue", "text_address"]
MONDAY_NOON = "2026-12-07T12:00"  # a Monday, on the schedule's own clock
SUNDAY_NOON = "2026-12-06T12:00"


def simulate(flow, *, digits=(), dial_status="no-answer", at=None):
    simulator = CallSimulator(
        inputs=scripted_input(list(digits)), dial_status=dial_status, release="draft", at=at
    )
    return simulator.run_flow(flow.slug)


def kinds(transcript):
    return [line.kind for line in transcript.lines]


def verbs_of(flow):
    return list(flow.steps.order_by("position").values_list("verb", flat=True))


def test_the_api_lists_exactly_the_five_shapes():
    assert list(TEMPLATES) == KEYS
    choices = template_choices()
    assert choices[0] == ("", "Empty flow")
    assert [key for key, _ in choices[1:]] == KEYS
    for key, template in TEMPLATES.items():
        assert template.key == key
        assert template.label and template.description


@pytest.mark.parametrize("key", KEYS)
def test_every_template_passes_the_flow_checks(key):
    flow = create_from_template(key, name="Support line")
    assert flow.pk and flow.name == "Support line" and flow.slug == "support-line"
    assert flow.steps.exists()
    errors = [f for f in find_problems() if f.severity == ERROR]
    assert errors == []
    # Positions are 1..n, as the admin shows them.
    positions = list(flow.steps.order_by("position").values_list("position", flat=True))
    assert positions == list(range(1, len(positions) + 1))


def test_empty_flow_has_no_steps():
    flow = create_from_template("", name="Billing")
    assert flow.slug == "billing" and not flow.steps.exists()


def test_menu_plays_its_options():
    flow = create_from_template("menu", name="Support line")
    assert verbs_of(flow) == [Step.Verb.SAY, Step.Verb.GATHER]
    options = {o.digits: o.target_flow.name for o in MenuOption.objects.filter(flow=flow)}
    assert options == {"1": "Sales", "2": "Support"}
    transcript = simulate(flow, digits=["2"])
    text = transcript.text
    assert "Thank you for calling." in text
    assert "For Sales, press 1. For Support, press 2." in text
    assert "You have reached Support." in text
    assert transcript.ended == "end"


def test_menu_reuses_an_existing_flow_and_takes_options():
    billing = create_from_template("", name="Billing")
    hours = CallFlow.objects.create(name="Opening hours", slug="opening-hours")
    flow = create_from_template(
        "menu", name="Main", options=[("1", "billing"), ("2", hours)], greeting="Hello."
    )
    targets = dict(MenuOption.objects.filter(flow=flow).values_list("digits", "target_flow"))
    assert targets == {"1": billing.pk, "2": hours.pk}
    assert CallFlow.objects.count() == 3  # nothing new besides the menu


def test_forward_rings_then_voicemail_into_a_box():
    flow = create_from_template("forward_voicemail", name="Billing", forward_to="+1 415 555 0199")
    dial = flow.steps.get(verb=Step.Verb.DIAL)
    assert dial.dial_target == "+14155550199" and dial.timeout == 20
    voicemail = dial.next_flow
    assert voicemail.name == "Billing voicemail"
    record = voicemail.steps.get(verb=Step.Verb.RECORD)
    assert record.box == VoicemailBox.objects.get(name="Front desk")

    unanswered = simulate(flow, dial_status="no-answer")
    assert "Dials number +14155550199" in unanswered.text
    assert "record" in kinds(unanswered)
    assert "Front desk" in unanswered.text
    assert unanswered.ended == "hangup"

    answered = simulate(flow, dial_status="completed")
    assert "record" not in kinds(answered) and answered.ended == "hangup"


def test_forward_default_number_and_box_reused():
    box = VoicemailBox.objects.create(name="Front desk")
    flow = create_from_template("forward_voicemail", name="Sales")
    dial = flow.steps.get(verb=Step.Verb.DIAL)
    assert dial.dial_target == DEFAULT_FORWARD_TO
    assert dial.next_flow.steps.get(verb=Step.Verb.RECORD).box == box
    assert VoicemailBox.objects.count() == 1


def test_a_bad_number_is_an_error_on_that_parameter_and_creates_nothing():
    with pytest.raises(ValidationError) as caught:
        create_from_template("forward_voicemail", name="Billing", forward_to="12")
    assert "forward_to" in caught.value.message_dict
    assert "E.164" in caught.value.message_dict["forward_to"][0]
    assert not CallFlow.objects.exists() and not VoicemailBox.objects.exists()


def test_blank_name_unknown_key_and_parameter():
    with pytest.raises(ValidationError) as caught:
        create_from_template("menu", name="  ")
    assert "name" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        create_from_template("no-such", name="X")
    assert "template" in caught.value.message_dict
    with pytest.raises(TypeError):
        create_from_template("menu", name="X", forward_to="+14155550100")
    assert not CallFlow.objects.exists()


def test_same_name_twice_gets_its_own_slug():
    first = create_from_template("text_address", name="Address")
    second = create_from_template("text_address", name="Address")
    assert (first.slug, second.slug) == ("address", "address-2")


def test_after_hours_open_and_closed(settings):
    settings.TIME_ZONE = "America/New_York"
    flow = create_from_template("after_hours", name="Front door", open_flow="Reception")
    hours = flow.steps.get(verb=Step.Verb.HOURS)
    schedule = Schedule.objects.get(name="Office hours")
    assert hours.schedule == schedule and schedule.time_zone == "America/New_York"
    assert sorted(schedule.ranges.values_list("weekday", flat=True)) == [0, 1, 2, 3, 4]
    assert hours.open_flow.name == "Reception"

    open_call = simulate(flow, at=MONDAY_NOON)
    assert "Open now (Office hours" in open_call.text
    assert "going to flow 'reception'" in open_call.text
    assert "record" not in kinds(open_call)
    closed_call = simulate(flow, at=SUNDAY_NOON)
    assert "We are closed right now." in closed_call.text
    assert "record" in kinds(closed_call)
    assert closed_call.ended == "hangup"


def test_after_hours_reuses_a_schedule_by_name():
    existing = Schedule.objects.create(name="Shop hours", time_zone="Europe/London")
    existing.ranges.create(weekday=5, opens="10:00", closes="14:00")
    flow = create_from_template("after_hours", name="Shop", schedule="shop hours")
    assert flow.steps.get(verb=Step.Verb.HOURS).schedule == existing
    assert Schedule.objects.count() == 1


def test_queue_waits_with_music_then_voicemail():
    flow = create_from_template("queue", name="Support queue")
    enqueue = flow.steps.get(verb=Step.Verb.ENQUEUE)
    assert enqueue.dial_target == "support-queue" and enqueue.url == DEFAULT_HOLD_MUSIC
    transcript = simulate(flow, dial_status="no-answer")  # the caller leaves the queue
    assert 'Waits in queue "support-queue"' in transcript.text
    assert "record" in kinds(transcript)


def test_text_address_texts_the_caller():
    flow = create_from_template("text_address", name="Address", address="1 Main St, Springfield.")
    assert verbs_of(flow) == [Step.Verb.SMS, Step.Verb.SAY, Step.Verb.HANGUP]
    assert flow.steps.get(verb=Step.Verb.SMS).text == "1 Main St, Springfield."
    transcript = simulate(flow)
    assert "Texts the caller at +14155551234" in transcript.text
    assert "sms" in kinds(transcript)
    assert transcript.ended == "hangup"


def test_fill_an_empty_flow_from_a_template():
    from telephony.flows.templates import fill_from_template

    billing = create_from_template("", name="Billing")
    fill_from_template(billing, "forward_voicemail", forward_to="+14155550123")
    billing.refresh_from_db()
    assert billing.slug == "billing" and billing.description
    assert billing.steps.get(verb=Step.Verb.DIAL).dial_target == "+14155550123"
    assert [f for f in find_problems() if f.severity == ERROR] == []
    with pytest.raises(ValidationError) as caught:
        fill_from_template(billing, "menu")
    assert "template" in caught.value.message_dict
    assert not MenuOption.objects.exists()


def test_a_bad_parameter_leaves_an_empty_flow_empty():
    from telephony.flows.templates import fill_from_template

    billing = create_from_template("", name="Billing")
    with pytest.raises(ValidationError):
        fill_from_template(billing, "forward_voicemail", forward_to="nope")
    assert not billing.steps.exists() and CallFlow.objects.count() == 1
