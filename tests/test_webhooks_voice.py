"""The voice webhooks through the real views with signed requests."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from telephony.flows import twiml
from telephony.models import CallFlow, Step
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish, step_path

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
# On a cold cache: FlowsVersion (which release is live) + the release's fixture + the
# draft's keys of flows, steps, options and numbers (to link call logs to the rows staff
# see), whatever the release's size (tests/test_performance_queries.py pins the warm
# path: none). Pinned: a change here is a decision. + 3: the call's log row (INSERT ...
# ON CONFLICT in a savepoint, as the tests run inside a transaction; production queues it
# for the background writer). + 3: the call's events (the same, logs/events.py).
VOICE_WEBHOOK_QUERIES = 12


def gather_path(slug="main-menu", release=None):
    return step_path(slug, "gather", "gather", release=release)


def said(root):
    return [el.text for el in root.iter("Say")]


# --- answering a call ------------------------------------------------------------------


def test_demo_number_answers_with_main_menu(live_demo, twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "From": "+14155551234"}))
    assert verbs(root) == ["Say", "Gather"]
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == gather_path()
    assert gather.get("actionOnEmptyResult") == "true"  # no input comes to us, counted


def test_to_in_national_format_still_finds_the_number(live_demo, twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": "+1 (500) 555-0006"}))
    assert verbs(root)[:2] == ["Say", "Gather"]


@pytest.mark.parametrize("to", ["+14155550999", "", "garbage", "sip:alice@example.com"])
def test_unknown_or_missing_number_hears_a_polite_goodbye(live_demo, twilio, to):
    params = {"To": to} if to else {}
    root = parse_twiml(twilio.post("/twilio/voice/", params))
    assert verbs(root) == ["Say", "Hangup"]
    assert said(root) == [twiml.NOT_IN_SERVICE]


def test_nothing_published_yet_is_not_in_service(demo, twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO}))
    assert said(root) == [twiml.NOT_IN_SERVICE]


def test_number_without_flow(twilio):
    make_number("+14155550111", flow=None)
    publish()
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": "+14155550111"}))
    assert said(root) == [twiml.UNAVAILABLE]


def test_number_with_inactive_flow(live_demo, twilio):
    CallFlow.objects.filter(slug="main-menu").update(is_active=False)
    publish()
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO}))
    assert verbs(root) == ["Say", "Hangup"]
    assert said(root) == [twiml.UNAVAILABLE]


def test_flow_url_renders_the_flow(live_demo, twilio):
    root = parse_twiml(twilio.post("/twilio/voice/flows/sales/"))
    assert verbs(root) == ["Say", "Dial"]


def test_missing_flow_slug(twilio):
    root = parse_twiml(twilio.post("/twilio/voice/flows/nope/"))
    assert verbs(root) == ["Say", "Hangup"]


# --- the demo menu, end to end ----------------------------------------------------------


def test_walk_demo_sales_unanswered_to_voicemail_and_goodbye(live_demo, twilio):
    call = {"CallSid": "CA1", "From": "+14155551234", "To": DEMO}
    root = parse_twiml(twilio.post("/twilio/voice/", call))
    action = root.find("Gather").get("action")

    root = parse_twiml(twilio.post(action, {**call, "Digits": "1"}))
    assert said(root) == ["Connecting you to our sales team."]
    dial = root.find("Dial")
    assert dial.get("timeout") == "20"
    assert dial.find("Number").text == "+14155550100"

    root = parse_twiml(twilio.post(dial.get("action"), {**call, "DialCallStatus": "no-answer"}))
    assert verbs(root) == ["Say", "Record"]
    record = root.find("Record")
    assert record.get("maxLength") == "60"
    assert record.get("playBeep") == "true"

    recording = {**call, "RecordingUrl": "https://api.twilio.com/rec/RE1", "RecordingDuration": "5"}
    root = parse_twiml(twilio.post(record.get("action"), recording))
    assert verbs(root) == ["Say", "Hangup"]
    assert "Thank you" in said(root)[0]


def test_walk_demo_voicemail_option(live_demo, twilio):
    root = parse_twiml(twilio.post(gather_path(), {"Digits": "2"}))
    assert verbs(root) == ["Say", "Record"]


def test_answered_sales_call_hangs_up_afterwards(live_demo, twilio):
    root = parse_twiml(
        twilio.post(step_path("sales", "dial", "dial"), {"DialCallStatus": "completed"})
    )
    assert verbs(root) == ["Hangup"]


@pytest.mark.parametrize("status", ["busy", "failed", "canceled", "no-answer"])
def test_unanswered_dial_goes_to_voicemail(live_demo, twilio, status):
    root = parse_twiml(twilio.post(step_path("sales", "dial", "dial"), {"DialCallStatus": status}))
    assert verbs(root) == ["Say", "Record"]


@pytest.mark.parametrize("digits", ["9", "12", "abc", "#", "1" * 5000])
def test_invalid_digits_say_so_and_repeat_the_menu(live_demo, twilio, digits):
    root = parse_twiml(twilio.post(gather_path(), {"Digits": digits}))
    assert said(root)[0] == twiml.INVALID_OPTION
    assert verbs(root) == ["Say", "Gather"]
    assert root.find("Gather").get("action") == gather_path() + "?try=2"


def test_no_input_asks_again_saying_so(live_demo, twilio):
    root = parse_twiml(twilio.post(gather_path(), {"Digits": ""}))
    assert verbs(root) == ["Say", "Gather"]
    assert said(root)[0] == twiml.NO_INPUT


def test_after_the_last_try_the_demo_menu_gives_up_to_voicemail(live_demo, twilio):
    path = gather_path()
    for attempt in (1, 2):
        root = parse_twiml(twilio.post(path, {"Digits": "9" if attempt == 1 else ""}))
        path = root.find("Gather").get("action")
    assert path.endswith("?try=3")
    root = parse_twiml(twilio.post(path, {"Digits": ""}))
    assert verbs(root) == ["Say", "Record"]  # the demo's give-up flow: voicemail


@pytest.mark.parametrize("try_param", ["99", "-1", "abc", "1" * 50])
def test_a_try_number_twilio_never_sent_is_read_as_bounded(live_demo, twilio, try_param):
    root = parse_twiml(twilio.post(f"{gather_path()}?try={try_param}", {"Digits": ""}))
    assert verbs(root) in (["Say", "Gather"], ["Say", "Record"])


def test_giving_up_without_a_give_up_flow_runs_the_steps_after_or_says_goodbye(db, twilio):
    target = make_flow("target", steps=[{"verb": "say", "text": "Chosen."}])
    make_flow(
        "after",
        steps=[{"verb": "gather", "tries": 1}, {"verb": "say", "text": "Let us try later."}],
        options=[("1", target)],
    )
    make_flow("bare", steps=[{"verb": "gather", "tries": 2}], options=[("1", target)])
    make_number(
        "+14155550123", make_flow("entry", steps=[{"verb": "redirect", "next_flow": target}])
    )
    publish()
    after = parse_twiml(twilio.post(step_path("after", "gather", "gather"), {"Digits": ""}))
    assert said(after) == ["Let us try later."]
    bare = step_path("bare", "gather", "gather")
    assert verbs(parse_twiml(twilio.post(bare, {"Digits": ""}))) == ["Say", "Gather"]
    gave_up = parse_twiml(twilio.post(f"{bare}?try=2", {"Digits": "7"}))
    assert said(gave_up) == [twiml.GAVE_UP] and verbs(gave_up) == ["Say", "Hangup"]


def test_speech_input_picks_option_by_phrase_or_spoken_digit(db, twilio):
    sales = make_flow("sales", steps=[{"verb": "say", "text": "sales here"}])
    support = make_flow("support", steps=[{"verb": "say", "text": "support here"}])
    make_flow(
        "menu",
        steps=[{"verb": "gather", "input": "dtmf speech"}],
        options=[
            {"digits": "1", "phrase": "sales", "target_flow": sales},
            {"digits": "2", "phrase": "customer support", "target_flow": support},
        ],
    )
    publish()
    path = gather_path("menu")
    assert said(parse_twiml(twilio.post(path, {"SpeechResult": "Sales, please."}))) == [
        "sales here"
    ]
    assert said(parse_twiml(twilio.post(path, {"SpeechResult": "Customer support"}))) == [
        "support here"
    ]
    assert said(parse_twiml(twilio.post(path, {"SpeechResult": "two"}))) == ["support here"]
    assert (
        said(parse_twiml(twilio.post(path, {"SpeechResult": "support"})))[0] == twiml.INVALID_OPTION
    )


def test_deleting_an_options_target_in_the_draft_leaves_callers_as_they_were(live_demo, twilio):
    CallFlow.objects.get(slug="sales").delete()
    root = parse_twiml(twilio.post(gather_path(), {"Digits": "1"}))
    assert said(root) == ["Connecting you to our sales team."]


def test_option_whose_target_is_inactive(live_demo, twilio):
    CallFlow.objects.filter(slug="sales").update(is_active=False)
    publish()
    root = parse_twiml(twilio.post(gather_path(release="2"), {"Digits": "1"}))
    assert said(root) == [twiml.UNAVAILABLE]


def test_a_step_position_its_release_lacks_ends_the_call_politely(live_demo, twilio):
    root = parse_twiml(
        twilio.post("/twilio/releases/1/flows/main-menu/steps/9/gather/", {"Digits": "1"})
    )
    assert verbs(root) == ["Say", "Hangup"]
    assert said(root) == [twiml.UNAVAILABLE]


@pytest.mark.parametrize("release", ["7", "draft"])
def test_a_release_that_does_not_exist_ends_the_call_politely(live_demo, twilio, release):
    if release == "draft":  # the draft always exists: a flow it lacks is the same answer
        CallFlow.objects.get(slug="main-menu").delete()
    root = parse_twiml(
        twilio.post(f"/twilio/releases/{release}/flows/main-menu/steps/2/gather/", {"Digits": "1"})
    )
    assert said(root) == [twiml.UNAVAILABLE]


def test_an_outcome_for_a_step_of_another_verb_ends_the_call_politely(live_demo, twilio):
    # Step 2 of sales is its Dial, step 2 of main-menu its Gather: a Dial outcome posted
    # for the Gather is no outcome of that step.
    root = parse_twiml(
        twilio.post(step_path("main-menu", "gather", "dial"), {"DialCallStatus": "completed"})
    )
    assert said(root) == [twiml.UNAVAILABLE]


def test_record_without_next_flow_continues_with_following_steps(db, twilio):
    make_flow(
        "vm",
        steps=[{"verb": "record"}, {"verb": "say", "text": "bye"}, {"verb": "hangup"}],
    )
    publish()
    root = parse_twiml(twilio.post(step_path("vm", "record", "record"), {"RecordingUrl": "x"}))
    assert verbs(root) == ["Say", "Hangup"]


def test_enqueue_outcome_and_wait_music(db, twilio):
    after = make_flow("after", steps=[{"verb": "say", "text": "nobody free"}])
    make_flow(
        "q",
        steps=[
            {
                "verb": "enqueue",
                "dial_target": "support",
                "url": "https://example.com/m.mp3",
                "next_flow": after,
            }
        ],
    )
    publish()
    path = step_path("q", "enqueue", "enqueue")
    assert said(parse_twiml(twilio.post(path, {"QueueResult": "leave"}))) == ["nobody free"]
    assert verbs(parse_twiml(twilio.post(path, {"QueueResult": "bridged"}))) == ["Hangup"]
    wait = parse_twiml(twilio.post(step_path("q", "enqueue", "wait"), {"QueuePosition": "1"}))
    assert wait.find("Play").text == "https://example.com/m.mp3"
    assert wait.find("Play").get("loop") == "0"


def test_unexpected_error_answers_safe_twiml(live_demo, twilio, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("telephony.flows.answers.snapshot", explode)
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO}))
    assert said(root) == [twiml.TECHNICAL_PROBLEM]


@pytest.mark.parametrize(
    "params", [{"ErrorCode": "11200", "ErrorUrl": "https://x/y", "CallSid": "CA1"}, {}]
)
def test_fallback_always_answers_safe_twiml(twilio, params):
    root = parse_twiml(twilio.post("/twilio/fallback/", params))
    assert verbs(root) == ["Say", "Hangup"]


def test_fallback_for_messages_answers_an_empty_messaging_response(twilio):
    root = parse_twiml(
        twilio.post("/twilio/fallback/", {"MessageSid": "SM1", "ErrorCode": "11200"})
    )
    assert list(root) == []


# --- query count -------------------------------------------------------------------------


def count_queries(twilio, path, params):
    with CaptureQueriesContext(connection) as queries:
        parse_twiml(twilio.post(path, params))
    return len(queries)


def test_voice_webhook_query_count_is_constant(db, twilio):
    short = make_flow("short", steps=[{"verb": "say", "text": "hi"}])
    long = make_flow("long", steps=[{"verb": "say", "text": f"step {i}"} for i in range(50)])
    make_number("+14155550101", short)
    make_number("+14155550102", long)
    publish()
    few = count_queries(twilio, "/twilio/voice/", {"To": "+14155550101", "CallSid": "CA1"})
    for i in range(200):
        make_number(f"+1415555{2000 + i}", long)
    publish()
    many = count_queries(twilio, "/twilio/voice/", {"To": "+14155550102", "CallSid": "CA2"})
    assert few == many
    assert few == VOICE_WEBHOOK_QUERIES


def test_a_menu_that_redirects_to_itself_still_gives_up_after_its_tries(db, twilio):
    target = make_flow("target", steps=[{"verb": "say", "text": "Chosen."}])
    menu = make_flow(
        "loop",
        steps=[{"verb": "gather", "tries": 2}, {"verb": "say", "text": "Once more."}],
        options=[("1", target)],
    )
    Step.objects.create(flow=menu, position=3, verb="redirect", next_flow=menu)
    make_number("+14155550124", menu)
    publish()
    path = step_path("loop", "gather", "gather")
    second = parse_twiml(twilio.post(path, {"Digits": ""})).find("Gather").get("action")
    gave_up = parse_twiml(twilio.post(second, {"Digits": ""}))
    assert said(gave_up) == [twiml.GAVE_UP] and verbs(gave_up) == ["Say", "Hangup"]
