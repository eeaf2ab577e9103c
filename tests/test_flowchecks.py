"""Flow checks: each problem found, with its flow and step; clean flows stay clean."""

import pytest
from django.core.management import CommandError, call_command

from telephony.models import CallFlow, MenuOption, PhoneNumber, Step, VerifiedCallerId
from telephony.tools.flow_checks import ERROR, WARNING, find_problems, has_errors
from tests.factories import make_flow, make_number

pytestmark = pytest.mark.django_db


def found(**filters):
    """(severity, flow, step, message) of every finding, narrowed by `filters`."""
    return [
        f
        for f in find_problems()
        if all(getattr(f, key) == value for key, value in filters.items())
    ]


def menu(slug="menu", *, options=(), steps=None, number="+14155550111"):
    flow = make_flow(
        slug,
        steps=steps if steps is not None else [{"verb": "gather", "num_digits": 1}],
        options=options,
    )
    if number:
        make_number(number, flow)
    return flow


def test_the_demo_has_no_errors(demo):
    findings = find_problems()
    assert not has_errors(findings), [str(f) for f in findings]


def test_a_clean_two_flow_menu_has_no_findings(db):
    sales = make_flow("sales", steps=[{"verb": "say", "text": "Sales"}, {"verb": "hangup"}])
    menu(options=[("1", sales)])
    assert find_problems() == []


def test_constant_number_of_queries(demo, django_assert_num_queries):
    for i in range(5):
        menu(f"extra-{i}", options=[("1", CallFlow.objects.get(slug="sales"))], number=None)
    # Six for flows, steps, options, numbers, caller IDs and caller rules; one for the
    # schedules and three for their rows (the demo has one).
    with django_assert_num_queries(10):
        find_problems()


# --- Gathers and options -------------------------------------------------------------------


def test_gather_with_no_options_and_nothing_after_is_an_error(db):
    menu(steps=[{"verb": "say", "text": "Hi"}, {"verb": "gather", "num_digits": 1}])
    [finding] = found(flow="menu", step=2)
    assert finding.severity == ERROR
    assert "no menu options and nothing after it" in finding.message


def test_gather_with_no_options_but_steps_after_is_a_warning(db):
    menu(steps=[{"verb": "gather"}, {"verb": "say", "text": "Bye"}, {"verb": "hangup"}])
    [finding] = found(flow="menu", step=1)
    assert finding.severity == WARNING


def test_option_longer_than_num_digits(db):
    target = make_flow("target", steps=[{"verb": "hangup"}])
    menu(options=[("1", target), ("12", target)])
    [finding] = found(severity=ERROR)
    assert (finding.flow, finding.step) == ("menu", 1)
    assert "Option 12 cannot be chosen" in finding.message
    assert "stops after 1 key" in finding.message


def test_options_without_a_gather(db):
    target = make_flow("target", steps=[{"verb": "hangup"}])
    menu(steps=[{"verb": "say", "text": "Hi"}], options=[("1", target)])
    assert any("no Gather step" in f.message for f in found(flow="menu", severity=ERROR))


@pytest.mark.parametrize(
    ("first_digits", "severity"),
    [("1", WARNING), ("", ERROR)],  # the shadowed one keeps its keys / has nothing else
)
def test_duplicate_spoken_option_is_shadowed(db, first_digits, severity):
    a = make_flow("a", steps=[{"verb": "hangup"}])
    b = make_flow("b", steps=[{"verb": "hangup"}])
    menu(
        steps=[{"verb": "gather", "input": "dtmf speech", "num_digits": 1}],
        options=[
            # Options are matched in (digits, phrase) order, as the webhook does.
            {"digits": "", "phrase": "sales", "target_flow": a},
            {"digits": first_digits, "phrase": "Sales!", "target_flow": b},
        ],
    )
    [finding] = found(flow="menu")
    assert finding.severity == severity
    shadowed, first = ("'Sales!'", "'sales'") if first_digits else ("'sales'", "'Sales!'")
    assert f"saying {shadowed} always picks the option {first}" in finding.message


def test_phrase_never_heard_by_a_keypad_gather(db):
    target = make_flow("target", steps=[{"verb": "hangup"}])
    menu(options=[{"digits": "1", "phrase": "sales", "target_flow": target}])
    [finding] = found(flow="menu")
    assert finding.severity == WARNING
    assert "never heard" in finding.message


def test_option_whose_target_was_deleted(db):
    target = make_flow("target", steps=[{"verb": "hangup"}])
    menu(options=[("1", target)])
    target.delete()  # SET_NULL leaves the option pointing nowhere
    assert MenuOption.objects.get().target_flow_id is None
    [finding] = found(flow="menu", severity=ERROR)
    assert "Option 1: it leads nowhere" in finding.message


def test_option_to_an_inactive_flow(db):
    target = make_flow("target", steps=[{"verb": "hangup"}], is_active=False)
    menu(options=[("1", target)])
    [finding] = found(flow="menu")
    assert finding.severity == WARNING
    assert "inactive flow 'target'" in finding.message


# --- steps ---------------------------------------------------------------------------------


def test_redirect_whose_flow_was_deleted(db):
    gone = make_flow("gone")
    flow = menu(steps=[{"verb": "say", "text": "x"}, {"verb": "redirect", "next_flow": gone}])
    gone.delete()
    [finding] = found(flow=flow.slug, step=2)
    assert finding.severity == ERROR
    assert "leads nowhere" in finding.message


def test_dial_outcomes_to_inactive_flows(db):
    off = make_flow("off", steps=[{"verb": "hangup"}], is_active=False)
    menu(
        steps=[
            {"verb": "dial", "dial_target": "+14155550100", "next_flow": off, "answered_flow": off}
        ]
    )
    messages = [f.message for f in found(flow="menu", step=1)]
    assert any(m.startswith("No answer goes to the inactive flow 'off'") for m in messages)
    assert any(m.startswith("Answered goes to the inactive flow 'off'") for m in messages)


def test_dial_caller_id_not_ours(db):
    VerifiedCallerId.objects.create(number="+14155550177")
    menu(
        steps=[
            {"verb": "dial", "dial_target": "+14155550100", "caller_id": "+14155550199"},
            {"verb": "dial", "dial_target": "+14155550100", "caller_id": "+14155550177"},
            {"verb": "dial", "dial_target": "+14155550100", "caller_id": "+14155550111"},
        ]
    )
    [finding] = found(flow="menu", severity=ERROR)
    assert finding.step == 1
    assert "+14155550199 is neither one of our numbers nor a verified caller ID" in finding.message


def test_steps_after_a_dial_with_a_next_flow_are_never_played(db):
    voicemail = make_flow("voicemail", steps=[{"verb": "hangup"}])
    menu(
        steps=[
            {"verb": "dial", "dial_target": "+14155550100", "next_flow": voicemail},
            {"verb": "say", "text": "lost"},
        ]
    )
    [finding] = found(flow="menu", step=2)
    assert finding.message == "Never played: Twilio leaves this flow at step 1 (Dial)."


def test_steps_after_a_dial_without_next_flow_are_played(db):
    menu(steps=[{"verb": "dial", "dial_target": "+14155550100"}, {"verb": "hangup"}])
    assert find_problems() == []


def test_never_played_steps_are_still_checked(db):
    menu(
        steps=[
            {"verb": "hangup"},
            {"verb": "dial", "dial_target": "+14155550100", "caller_id": "+14155550199"},
        ]
    )
    severities = sorted(f.severity for f in found(flow="menu", step=2))
    assert severities == [ERROR, WARNING]  # the foreign caller ID, and "never played"


def test_steps_after_a_hangup_are_never_played(db):
    menu(steps=[{"verb": "hangup"}, {"verb": "say", "text": "lost"}])
    [finding] = found(flow="menu", step=2)
    assert finding.severity == WARNING
    assert "Never played" in finding.message


# --- numbers and reachability --------------------------------------------------------------


def test_number_without_a_flow(db):
    make_number("+14155550111", None)
    make_number("+14155550112", None, voice_capable=False)  # SMS only: fine
    [finding] = find_problems()
    assert (finding.severity, finding.number) == (WARNING, "+14155550111")
    assert "No call flow answers this number" in finding.message


def test_number_answered_by_an_inactive_flow(db):
    flow = make_flow("off", steps=[{"verb": "hangup"}], is_active=False)
    make_number("+14155550111", flow)
    [finding] = find_problems()
    assert finding.number == "+14155550111" and "inactive flow 'off'" in finding.message


def test_unreachable_flows(db):
    island = make_flow("island", steps=[{"verb": "hangup"}])
    make_flow("lagoon", steps=[{"verb": "redirect", "next_flow": island}])
    make_flow("ok", steps=[{"verb": "hangup"}])
    PhoneNumber.objects.create(number="+14155550111", call_flow=CallFlow.objects.get(slug="ok"))
    make_flow("off", steps=[{"verb": "hangup"}], is_active=False)  # inactive: not reported
    by_flow = {f.flow: f.message for f in find_problems()}
    assert set(by_flow) == {"island", "lagoon"}
    assert by_flow["lagoon"].startswith("No number, option or step leads to this flow")
    assert by_flow["island"].startswith("No number reaches this flow")


# --- redirect loops ------------------------------------------------------------------------


def test_redirect_cycle_without_input_is_an_error(db):
    a = make_flow("a", steps=[{"verb": "say", "text": "A"}])
    b = make_flow("b", steps=[{"verb": "pause"}, {"verb": "redirect", "next_flow": a}])
    Step.objects.create(flow=a, position=2, verb="redirect", next_flow=b)
    make_number("+14155550111", a)
    [finding] = found(severity=ERROR)
    assert (finding.flow, finding.step) == ("a", 2)
    assert "(a -> b -> a)" in finding.message


def test_self_redirect_without_input_is_an_error(db):
    a = make_flow("a", steps=[{"verb": "say", "text": "A"}])
    Step.objects.create(flow=a, position=2, verb="redirect", next_flow=a)
    make_number("+14155550111", a)
    [finding] = found(severity=ERROR)
    assert "(a -> a)" in finding.message


@pytest.mark.parametrize(
    "waits",
    [
        {"verb": "gather", "num_digits": 1},
        {"verb": "record"},
        {"verb": "dial", "dial_target": "+14155550100"},
        {"verb": "enqueue", "dial_target": "support"},
    ],
)
def test_a_cycle_with_a_turn_for_the_caller_is_fine(db, waits):
    a = make_flow("a", steps=[{"verb": "say", "text": "A"}])
    b = make_flow("b", steps=[waits, {"verb": "redirect", "next_flow": a}])
    Step.objects.create(flow=a, position=2, verb="redirect", next_flow=b)
    make_number("+14155550111", a)
    assert not [f for f in found(severity=ERROR) if "loop" in f.message]


def test_redirect_to_an_inactive_flow_is_not_a_loop(db):
    a = make_flow("a", steps=[{"verb": "say", "text": "A"}])
    b = make_flow("b", steps=[{"verb": "redirect", "next_flow": a}], is_active=False)
    Step.objects.create(flow=a, position=2, verb="redirect", next_flow=b)
    make_number("+14155550111", a)
    assert not [f for f in find_problems() if "loop" in f.message]


def test_filter_by_flow(db):
    make_number("+14155550111", None)
    menu(steps=[{"verb": "gather"}], number="+14155550112")
    assert {f.flow for f in find_problems(flow="menu")} == {"menu"}
    assert find_problems(flow="nothing-here") == []


# --- the command ---------------------------------------------------------------------------


def test_check_flows_command_fails_on_errors(db, capsys):
    menu(steps=[{"verb": "gather"}])
    with pytest.raises(CommandError, match=r"1 error\(s\) and 0 warning\(s\)"):
        call_command("check_flows")
    out = capsys.readouterr().out
    assert "ERROR   flow menu, step 1 (Gather): This Gather has no menu options" in out


def test_check_flows_command_passes_with_warnings_only(db, capsys):
    make_number("+14155550111", None)
    call_command("check_flows")
    out = capsys.readouterr().out
    assert "WARNING number +14155550111" in out
    assert "No errors; 1 warning(s)." in out


def test_check_flows_command_on_clean_data(db, capsys):
    call_command("check_flows")
    assert "No problems found" in capsys.readouterr().out


# --- menus that give up ----------------------------------------------------------------------


def test_a_menu_that_starts_over_on_silence_has_no_way_out(db):
    sales = make_flow("sales", steps=[{"verb": "say", "text": "Sales"}, {"verb": "hangup"}])
    flow = menu(
        options=[("1", sales)],
        steps=[{"verb": "gather", "num_digits": 1}, {"verb": "say", "text": "Nothing?"}],
    )
    Step.objects.create(flow=flow, position=3, verb="redirect", next_flow=flow)
    (finding,) = found(flow="menu", step=1)
    assert finding.severity == WARNING and "No way out on silence" in finding.message
    step = flow.steps.get(verb="gather")
    step.give_up_flow = sales
    step.save()
    messages = [f.message for f in found(flow="menu")]
    assert not any("No way out" in message for message in messages)
    # The menu now always leaves for an option or the give-up flow: the rest never plays.
    assert any("Never played" in message for message in messages), messages


def test_the_demo_menu_gives_up_to_voicemail(demo):
    gather = Step.objects.get(flow__slug="main-menu", verb="gather")
    assert (gather.tries, gather.give_up_flow.slug) == (3, "voicemail")
    assert not [f for f in find_problems() if f.flow == "main-menu"]


def test_a_menu_cannot_give_up_to_itself(db):
    from django.core.exceptions import ValidationError

    flow = menu()
    step = flow.steps.get()
    step.give_up_flow = flow
    with pytest.raises(ValidationError) as caught:
        step.full_clean()
    assert "never get out" in caught.value.message_dict["give_up_flow"][0]
