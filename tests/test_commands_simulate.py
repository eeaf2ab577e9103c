"""simulate_call and simulate_sms: thin commands over the simulator."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import NoReverseMatch, reverse

from telephony.models import Step

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"


def run(*args, **kwargs):
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue().splitlines()


def test_simulate_call_walks_the_demo_to_voicemail(demo):
    lines = run("simulate_call", "--number", DEMO, "--digits", "2")
    assert lines[0] == f"Calling {DEMO} from +14155551234"
    assert "  Caller presses 2" in lines
    assert (
        '  Says: "Please leave a message after the beep. Press the pound key when you are done."'
        in lines
    )
    assert (
        "  Records (beep, up to 60 s): the caller leaves a 7-second message; "
        "the message would be stored in box Front desk"
    ) in lines
    assert lines[-1] == "Hangs up: the call is over (<Hangup>)."


def test_simulate_call_flow_with_dial_status_and_caller(demo):
    lines = run(
        "simulate_call", "--flow", "sales", "--from", "+14155550123", "--dial-status", "busy"
    )
    assert lines[0] == (
        f"Running flow 'sales' for a call from +14155550123 to {DEMO}"
        " (no number answers with this flow: a stand-in)"
    )
    assert "  Dials number +14155550100 (timeout 20 s): busy" in lines
    assert lines[-1] == "Hangs up: the call is over (<Hangup>)."


def test_simulate_call_digits_as_repeated_and_comma_lists(demo):
    lines = run("simulate_call", "--number", DEMO, "--digits", "9,", "--digits", "2")
    callers = [line.strip() for line in lines if line.strip().startswith("Caller")]
    assert callers == [
        "Caller presses 9",
        "Caller does nothing (the Gather times out)",
        "Caller presses 2",
    ]


def test_simulate_call_speech(db):
    from tests.factories import make_flow

    target = make_flow("sales", steps=[{"verb": "say", "text": "Sales"}])
    make_flow(
        "menu",
        steps=[{"verb": "gather", "input": "speech"}],
        options=[{"phrase": "sales", "target_flow": target}],
    )
    lines = run("simulate_call", "--flow", "menu", "--speech", "sales please")
    assert '  Caller says "sales please"' in lines
    assert '  Says: "Sales"' in lines


def test_simulate_call_asks_in_a_terminal(demo, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    asked = []
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "2")
    lines = run("simulate_call", "--number", DEMO)
    assert asked == ["  Your keys or words (Enter: no input) > "]  # the demo menu hears both
    assert "  Caller presses 2" in lines


def test_simulate_call_without_terminal_or_input_times_out(demo):
    lines = run("simulate_call", "--number", DEMO, "--max-requests", "2")
    assert lines[-1] == "Stopped after 2 requests: the call seems to loop forever."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--flow", "nope"], "There is no call flow with the slug 'nope'."),
        (["--number", "+14155550999"], "+14155550999 is not one of our numbers"),
        (["--number", DEMO, "--digits", "1a"], "--digits: '1a' is not keypad keys"),
        (["--number", DEMO, "--from", "x"], "'x' is not a phone number to call from"),
        (["--number", DEMO, "--dial-status", "maybe"], "invalid choice: 'maybe'"),
        ([], "one of the arguments --number --flow is required"),
        (["--number", DEMO, "--flow", "sales"], "not allowed with argument"),
    ],
)
def test_simulate_call_bad_input_is_one_clear_line(demo, args, message):
    with pytest.raises(CommandError, match=message.replace("+", r"\+").replace("(", r"\(")):
        run("simulate_call", *args)


def test_simulate_call_without_token_is_a_command_error(demo, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(CommandError, match="TWILIO_AUTH_TOKEN is not set"):
        run("simulate_call", "--number", DEMO)


def _sms_url():
    try:
        return reverse("telephony:sms")
    except NoReverseMatch:
        return None


@pytest.mark.skipif(
    _sms_url() is None,
    reason="the SMS webhook (URL name telephony:sms) is being built in another issue",
)
def test_simulate_sms_prints_the_reply(demo):
    lines = run("simulate_sms", "--to", DEMO, "--body", "hello", "--from", "+14155550123")
    assert lines[0] == f"SMS from +14155550123 to {DEMO}"
    assert lines[1] == "  You: hello"
    assert lines[-1] == "Done."
    replies = lines[2:-1]
    assert replies and all(r.startswith("  Reply: ") or r == "  (no reply)" for r in replies)


def test_simulate_sms_bad_number(demo):
    with pytest.raises(CommandError, match="'12' is not a phone number"):
        run("simulate_sms", "--to", "12", "--body", "hi")


def test_simulate_call_asks_again_after_words_at_a_keypad_menu(demo, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    Step.objects.filter(flow__slug="main-menu", verb="gather").update(input="dtmf")
    answers = iter(["sales", "2"])
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    err = io.StringIO()
    out = io.StringIO()
    call_command("simulate_call", "--number", DEMO, stdout=out, stderr=err)
    assert "only takes keypad keys" in err.getvalue()
    assert "  Caller presses 2" in out.getvalue().splitlines()
