"""TwiML rendering per verb and attribute, parsed strictly."""

import xml.etree.ElementTree as ET

import pytest
from django.test import override_settings

from telephony.flows import twiml
from telephony.flows.loading import load_flow
from tests.factories import make_flow

pytestmark = pytest.mark.django_db


def render(flow) -> ET.Element:
    xml = twiml.render_flow(load_flow(flow.slug)).to_xml()
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return root


def only(root, tag):
    found = root.findall(tag)
    assert len(found) == 1, ET.tostring(root)
    return found[0]


def test_say_with_voice_language_and_loop():
    flow = make_flow(
        steps=[
            {
                "verb": "say",
                "text": "Hello",
                "voice": "Polly.Joanna",
                "language": "en-US",
                "loop": 3,
            }
        ]
    )
    say = only(render(flow), "Say")
    assert say.text == "Hello"
    assert say.attrib == {"voice": "Polly.Joanna", "language": "en-US", "loop": "3"}


def test_say_default_loop_is_omitted():
    say = only(render(make_flow(steps=[{"verb": "say", "text": "Hi"}])), "Say")
    assert say.attrib == {}


def test_play_with_loop_zero_means_forever():
    flow = make_flow(steps=[{"verb": "play", "url": "https://example.com/a.mp3", "loop": 0}])
    play = only(render(flow), "Play")
    assert play.text == "https://example.com/a.mp3"
    assert play.get("loop") == "0"


def test_pause_length():
    assert (
        only(render(make_flow(steps=[{"verb": "pause", "length": 4}])), "Pause").get("length")
        == "4"
    )


def test_gather_attributes_prompt_and_action():
    target = make_flow("sales")
    flow = make_flow(
        steps=[
            {
                "verb": "gather",
                "text": "Press 1",
                "voice": "alice",
                "num_digits": 1,
                "timeout": 7,
                "finish_on_key": "*",
                "url": "https://example.com/prompt.mp3",
            }
        ],
        options=[("1", target)],
    )
    gather = only(render(flow), "Gather")
    assert gather.get("action") == "/twilio/releases/draft/flows/menu/steps/1/gather/"
    assert gather.get("method") == "POST"
    assert gather.get("input") == "dtmf"
    assert gather.get("numDigits") == "1"
    assert gather.get("timeout") == "7"
    assert gather.get("finishOnKey") == "*"
    assert [child.tag for child in gather] == ["Say", "Play"]
    assert gather.find("Say").text == "Press 1"
    assert gather.find("Say").get("voice") == "alice"
    assert gather.get("hints") is None  # keypad only: no speech hints


def test_gather_speech_gets_hints_from_option_phrases():
    sales, support = make_flow("sales"), make_flow("support")
    flow = make_flow(
        steps=[
            {
                "verb": "gather",
                "input": "dtmf speech",
                "text": "Say sales or support",
                "language": "en-GB",
            }
        ],
        options=[
            {"digits": "1", "phrase": "sales", "target_flow": sales},
            {"digits": "2", "phrase": "support", "target_flow": support},
        ],
    )
    gather = only(render(flow), "Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "en-GB"
    assert set(gather.get("hints").split(", ")) == {"sales", "support"}


@pytest.mark.parametrize(
    ("kind", "target", "tag"),
    [
        ("number", "+14155550100", "Number"),
        ("client", "agent_7", "Client"),
        ("queue", "support", "Queue"),
    ],
)
def test_dial_targets(kind, target, tag):
    flow = make_flow(steps=[{"verb": "dial", "dial_kind": kind, "dial_target": target}])
    dial = only(render(flow), "Dial")
    assert [child.tag for child in dial] == [tag]
    assert dial.find(tag).text == target
    assert dial.get("action") is None  # no outcome flow: Twilio runs the following steps


def test_dial_attributes_and_outcome_action():
    voicemail = make_flow("voicemail")
    flow = make_flow(
        "sales",
        steps=[
            {
                "verb": "dial",
                "dial_target": "+14155550100",
                "timeout": 20,
                "caller_id": "+15005550006",
                "record": True,
                "next_flow": voicemail,
            }
        ],
    )
    dial = only(render(flow), "Dial")
    assert dial.get("action") == "/twilio/releases/draft/flows/sales/steps/1/dial/"
    assert dial.get("timeout") == "20"
    assert dial.get("callerId") == "+15005550006"
    assert dial.get("record") == "record-from-answer"


def test_record_always_has_an_action():
    flow = make_flow(
        "vm",
        steps=[
            {
                "verb": "record",
                "max_length": 60,
                "play_beep": False,
                "transcribe": True,
                "finish_on_key": "#",
            }
        ],
    )
    record = only(render(flow), "Record")
    assert record.get("action") == "/twilio/releases/draft/flows/vm/steps/1/record/"
    assert record.get("maxLength") == "60"
    assert record.get("playBeep") == "false"
    assert record.get("transcribe") == "true"
    assert record.get("finishOnKey") == "#"


def test_redirect_to_flow_and_to_url():
    target = make_flow("target")
    flow = make_flow(
        steps=[
            {"verb": "redirect", "next_flow": target},
            {"verb": "redirect", "url": "https://other.example.com/twiml"},
        ]
    )
    first, second = render(flow).findall("Redirect")
    assert first.text == "/twilio/releases/draft/flows/target/"
    assert second.text == "https://other.example.com/twiml"


@override_settings(TELEPHONY_PUBLIC_URL="https://sb.example.com/prefix/")
def test_urls_are_absolute_with_public_url():
    target = make_flow("target")
    flow = make_flow(steps=[{"verb": "redirect", "next_flow": target}])
    assert (
        only(render(flow), "Redirect").text
        == "https://sb.example.com/prefix/twilio/releases/draft/flows/target/"
    )


def test_enqueue_with_wait_music_and_outcome():
    after = make_flow("after")
    flow = make_flow(
        "q",
        steps=[
            {
                "verb": "enqueue",
                "dial_target": "support",
                "url": "https://example.com/hold.mp3",
                "next_flow": after,
            }
        ],
    )
    enqueue = only(render(flow), "Enqueue")
    assert enqueue.text == "support"
    assert enqueue.get("waitUrl") == "/twilio/releases/draft/flows/q/steps/1/wait/"
    assert enqueue.get("action") == "/twilio/releases/draft/flows/q/steps/1/enqueue/"


def test_reject_reason_and_hangup():
    flow = make_flow(steps=[{"verb": "reject", "reason": "busy"}, {"verb": "hangup"}])
    root = render(flow)
    assert [c.tag for c in root] == ["Reject", "Hangup"]
    assert root.find("Reject").get("reason") == "busy"


def test_control_characters_never_break_the_xml():
    flow = make_flow(
        steps=[{"verb": "say", "text": "Hel\x01lo\x07 \x1bworld\ufffe", "voice": "al\x01ice"}]
    )
    say = only(render(flow), "Say")
    assert say.text == "Hello world"
    assert say.get("voice") == "alice"


def test_xml_safe_drops_what_xml_cannot_carry():
    # NUL cannot even be stored on PostgreSQL, but SQLite and fixtures can carry it.
    assert twiml.xml_safe("a\x00b\x0bc\td\ne\uffff") == "abc\td\ne"


def test_inactive_flow_says_goodbye():
    flow = make_flow(steps=[{"verb": "say", "text": "secret"}], is_active=False)
    root = render(flow)
    assert [c.tag for c in root] == ["Say", "Hangup"]
    assert root.find("Say").text == twiml.UNAVAILABLE


def test_redirect_whose_target_was_deleted_ends_politely():
    target = make_flow("gone")
    flow = make_flow(steps=[{"verb": "redirect", "next_flow": target}])
    target.delete()
    root = render(flow)
    assert [c.tag for c in root] == ["Say", "Hangup"]


def test_a_step_that_cannot_render_is_skipped_not_fatal():
    flow = make_flow(steps=[{"verb": "say", "text": "one"}, {"verb": "say", "text": "two"}])
    flow.steps.filter(position=1).update(verb="bogus")
    root = render(flow)
    assert [c.text for c in root] == ["two"]
