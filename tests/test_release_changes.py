"""describe(): the differences between two releases, in the sentences staff read."""

import json

import pytest
from django.db.models import F

from telephony.flows.fixtures import draft_fixture
from telephony.models import CallFlow, MenuOption, PhoneNumber, SmsRule, Step
from telephony.releases import publishing
from telephony.releases.changes import describe, describe_draft

# --- building fixtures by hand (fields left out are the model's defaults) ---------------


def flow(slug, name=None, **fields):
    return {
        "model": "telephony.callflow",
        "fields": {"slug": slug, "name": name or slug.title(), "description": "", **fields},
    }


def step(flow_slug, position, verb="say", **fields):
    return {
        "model": "telephony.step",
        "fields": {"flow": [flow_slug], "position": position, "verb": verb, **fields},
    }


def option(flow_slug, digits, target, phrase=""):
    return {
        "model": "telephony.menuoption",
        "fields": {
            "flow": [flow_slug],
            "digits": digits,
            "phrase": phrase,
            "target_flow": [target] if target else None,
        },
    }


def number(e164, flow_slug=None):
    return {
        "model": "telephony.phonenumber",
        "fields": {"number": e164, "call_flow": [flow_slug] if flow_slug else None},
    }


def rule(e164, keyword, reply, media_url=""):
    return {
        "model": "telephony.smsrule",
        "fields": {
            "phone_number": [e164],
            "keyword": keyword,
            "reply": reply,
            "media_url": media_url,
        },
    }


def fixture(*objects):
    return json.dumps(list(objects))


SALES = [
    flow("sales", "Sales"),
    step("sales", 1, "say", text="Connecting you to sales."),
    step("sales", 2, "dial", dial_target="+14155550100", timeout=20),
]


def changes(old, new):
    return describe(fixture(*old) if old is not None else None, fixture(*new))


# --- steps ------------------------------------------------------------------------------


def test_equal_releases_have_no_changes():
    assert changes(SALES, SALES) == []


def test_a_changed_step_field_names_the_step_its_verb_and_both_values():
    new = [*SALES[:2], step("sales", 2, "dial", dial_target="+14155550100", timeout=30)]
    assert changes(SALES, new) == ['Flow "Sales": step 2 (Dial) timeout 20 -> 30']


def test_blank_values_booleans_and_choices_read_as_words():
    old = [flow("menu", "Menu"), step("menu", 1, "gather", input="dtmf", num_digits=None)]
    new = [
        flow("menu", "Menu"),
        step("menu", 1, "gather", input="dtmf speech", num_digits=1, finish_on_key="*"),
    ]
    assert changes(old, new) == [
        'Flow "Menu": step 1 (Gather) input Keypad -> Keypad or speech',
        'Flow "Menu": step 1 (Gather) num digits (blank) -> 1',
        'Flow "Menu": step 1 (Gather) finish on key (blank) -> "*"',
    ]
    old = [flow("menu", "Menu"), step("menu", 1, "record", play_beep=True, transcribe=False)]
    new = [flow("menu", "Menu"), step("menu", 1, "record", play_beep=False, transcribe=True)]
    assert changes(old, new) == [
        'Flow "Menu": step 1 (Record) play beep yes -> no',
        'Flow "Menu": step 1 (Record) transcribe no -> yes',
    ]


def test_flow_targets_of_steps_are_named_by_the_flows_name():
    flows = [flow("sales", "Sales"), flow("voicemail", "Voicemail"), flow("vip", "VIP desk")]
    old = [*flows, step("sales", 1, "dial", dial_target="+14155550100", next_flow=["voicemail"])]
    new = [*flows, step("sales", 1, "dial", dial_target="+14155550100", next_flow=["vip"])]
    assert changes(old, new) == ['Flow "Sales": step 1 (Dial) next flow "Voicemail" -> "VIP desk"']


def test_the_url_and_the_caller_id_use_their_labels():
    old = [flow("f", "F"), step("f", 1, "play", url="https://example.com/a.mp3")]
    new = [flow("f", "F"), step("f", 1, "play", url="https://example.com/b.mp3")]
    assert changes(old, new) == [
        'Flow "F": step 1 (Play) URL "https://example.com/a.mp3" -> "https://example.com/b.mp3"'
    ]
    old = [flow("f", "F"), step("f", 1, "dial", dial_target="+14155550100", caller_id="")]
    new = [
        flow("f", "F"),
        step("f", 1, "dial", dial_target="+14155550199", caller_id="+15005550006"),
    ]
    assert changes(old, new) == [
        'Flow "F": step 1 (Dial) dial target +14155550100 -> +14155550199',
        'Flow "F": step 1 (Dial) caller id (blank) -> +15005550006',
    ]


def test_a_step_added_says_what_it_does():
    new = [*SALES, step("sales", 3, "say", text="Please hold")]
    assert changes(SALES, new) == ['Flow "Sales": step 3 (Say) added: "Please hold"']


def test_a_step_inserted_at_the_top_is_added_not_every_step_changed():
    new = [
        flow("sales", "Sales"),
        step("sales", 1, "pause", length=2),
        step("sales", 2, "say", text="Connecting you to sales."),
        step("sales", 3, "dial", dial_target="+14155550100", timeout=20),
    ]
    assert changes(SALES, new) == ['Flow "Sales": step 1 (Pause) added: 2 seconds']


def test_a_removed_step_is_numbered_as_it_was():
    old = [
        *SALES,
        step("sales", 3, "say", text="Leave a message."),
        step("sales", 4, "record", box=["Front desk"]),
    ]
    new = old[:3] + [step("sales", 3, "record", box=["Front desk"])]
    assert changes(old, new) == ['Flow "Sales": step 3 (Say) removed: "Leave a message."']
    assert changes(old, old[:4]) == ['Flow "Sales": step 4 (Record) removed: box "Front desk"']


def test_a_verb_change_shows_both_verbs_and_what_the_step_does_now():
    old = [flow("f", "F"), step("f", 1, "say", text="Hello"), step("f", 2, "hangup")]
    new = [
        flow("f", "F"),
        step("f", 1, "play", url="https://example.com/hello.mp3"),
        step("f", 2, "hangup"),
    ]
    assert changes(old, new) == ['Flow "F": step 1 Say -> Play: "https://example.com/hello.mp3"']


def test_a_changed_step_among_new_ones_is_paired_by_its_verb():
    old = [flow("f", "F"), step("f", 1, "say", text="Hello")]
    new = [
        flow("f", "F"),
        step("f", 1, "play", url="https://example.com/jingle.mp3"),
        step("f", 2, "say", text="Hello there"),
    ]
    assert changes(old, new) == [
        'Flow "F": step 1 (Play) added: "https://example.com/jingle.mp3"',
        'Flow "F": step 2 (Say) text "Hello" -> "Hello there"',
    ]


def test_a_step_moved_elsewhere_unchanged_is_a_move():
    old = [
        flow("f", "F"),
        step("f", 1, "say", text="One"),
        step("f", 2, "say", text="Two"),
        step("f", 3, "say", text="Three"),
    ]
    new = [
        flow("f", "F"),
        step("f", 1, "say", text="Two"),
        step("f", 2, "say", text="Three"),
        step("f", 3, "say", text="One"),
    ]
    assert changes(old, new) == ['Flow "F": step 1 (Say) moved to step 3: "One"']


def test_summaries_of_each_kind_of_step():
    flows = [flow("f", "F"), flow("next", "Next")]
    new = [
        *flows,
        step("f", 1, "redirect", next_flow=["next"]),
        step("f", 2, "redirect", url="https://example.com/twiml"),
        step("f", 3, "enqueue", dial_target="support"),
        step("f", 4, "reject", reason="busy"),
        step("f", 5, "hangup"),
        step("f", 6, "gather"),
        step("f", 7, "sms", text="Our address: 1 Main St"),
        step("f", 8, "dial", dial_target="+14155550100", next_flow=["next"]),
        step("f", 9, "record"),
        step("f", 10, "pause", length=1),
    ]
    assert changes(flows, new) == [
        'Flow "F": step 1 (Redirect) added: to "Next"',
        'Flow "F": step 2 (Redirect) added: to "https://example.com/twiml"',
        'Flow "F": step 3 (Enqueue) added: queue "support"',
        'Flow "F": step 4 (Reject) added: busy',
        'Flow "F": step 5 (Hangup) added',
        'Flow "F": step 6 (Gather) added',
        'Flow "F": step 7 (Sms) added: "Our address: 1 Main St"',
        'Flow "F": step 8 (Dial) added: +14155550100, then "Next"',
        'Flow "F": step 9 (Record) added: no voicemail box',
        'Flow "F": step 10 (Pause) added: 1 second',
    ]


# --- long text --------------------------------------------------------------------------


def test_long_text_is_quoted_and_cut_to_about_60_characters():
    long = "Thanks for calling. " * 10
    assert changes(SALES, [*SALES, step("sales", 3, "say", text=long)]) == [
        'Flow "Sales": step 3 (Say) added: '
        '"Thanks for calling. Thanks for calling. Thanks for calling.…"'
    ]


def test_long_texts_alike_at_the_start_are_cut_around_the_first_difference():
    start = "Thank you for calling the Switchboard demo, the best demo in all of town. "
    old = [flow("f", "F"), step("f", 1, "say", text=start + "Press 1 for sales.")]
    new = [flow("f", "F"), step("f", 1, "say", text=start + "Press 2 for sales.")]
    (sentence,) = changes(old, new)
    assert sentence == (
        'Flow "F": step 1 (Say) text "…demo, the best demo in all of town. Press 1 for sales." '
        '-> "…demo, the best demo in all of town. Press 2 for sales."'
    )


def test_text_is_cut_between_words():
    text = "Our opening hours are Monday to Friday from nine in the morning until five."
    new = [*SALES, step("sales", 3, "say", text=text)]
    assert changes(SALES, new) == [
        'Flow "Sales": step 3 (Say) added: "Our opening hours are Monday to Friday from nine in the…"'
    ]


def test_whitespace_in_text_is_squashed():
    new = [*SALES, step("sales", 3, "say", text="Please\n  hold")]
    assert changes(SALES, new) == ['Flow "Sales": step 3 (Say) added: "Please hold"']


# --- flows ------------------------------------------------------------------------------


def test_flows_added_and_removed():
    billing = [
        flow("billing", "Billing"),
        step("billing", 1, "say", text="Billing."),
        step("billing", 2, "gather"),
        step("billing", 3, "hangup"),
    ]
    promo = [flow("old-promo", "Old promo"), step("old-promo", 1, "say", text="Promo!")]
    assert changes([*SALES, *promo], [*SALES, *billing]) == [
        'Flow "Billing" added (3 steps)',
        'Flow "Old promo" removed',
    ]
    assert changes(SALES, [*SALES, flow("empty", "Empty")]) == ['Flow "Empty" added (no steps)']


def test_an_added_flow_counts_its_options():
    menu = [
        flow("menu", "Main menu"),
        step("menu", 1, "gather"),
        option("menu", "1", "sales"),
        option("menu", "2", "sales"),
    ]
    assert changes(SALES, [*SALES, *menu]) == ['Flow "Main menu" added (1 step, 2 options)']


def test_flow_renamed_deactivated_and_described():
    old = [flow("sales", "Sales", description="Rings sales.", is_active=True)]
    new = [flow("sales", "Sales desk", description="Rings the desk.", is_active=False)]
    assert changes(old, new) == [
        'Flow "Sales" renamed "Sales desk"',
        'Flow "Sales desk": now inactive (callers hear "not available")',
        'Flow "Sales desk": description "Rings sales." -> "Rings the desk."',
    ]
    assert changes(new, old)[1] == 'Flow "Sales": now active'


def test_flows_come_in_name_order_then_numbers_then_sms_rules():
    old = [
        flow("z", "Alpha"),
        flow("a", "Zulu"),
        number("+15005550006", "a"),
        rule("+15005550006", "HOURS", "9 to 5"),
    ]
    new = [
        flow("z", "Alpha", description="first"),
        flow("a", "Zulu", description="last"),
        flow("m", "mike"),
        number("+15005550006", "z"),
        rule("+15005550006", "HOURS", "9 to 6"),
    ]
    assert changes(old, new) == [
        'Flow "Alpha": description (blank) -> "first"',
        'Flow "mike" added (no steps)',
        'Flow "Zulu": description (blank) -> "last"',
        'Number +15005550006 now answers with "Alpha" (was "Zulu")',
        'SMS rule HOURS of +15005550006: reply "9 to 5" -> "9 to 6"',
    ]


# --- options ----------------------------------------------------------------------------

FLOWS = [
    flow("menu", "Main menu"),
    flow("sales", "Sales"),
    flow("voicemail", "Voicemail"),
    flow("text-address", "Text address"),
    step("menu", 1, "gather"),
]


def test_options_added_removed_and_retargeted():
    old = [*FLOWS, option("menu", "1", "sales"), option("menu", "2", "voicemail")]
    new = [*FLOWS, option("menu", "2", "sales"), option("menu", "3", "text-address")]
    assert changes(old, new) == [
        'Flow "Main menu": option 1 removed (it led to "Sales")',
        'Flow "Main menu": option 2 now leads to "Sales" (was "Voicemail")',
        'Flow "Main menu": option 3 added -> "Text address"',
    ]


def test_option_words():
    old = [*FLOWS, option("menu", "1", "sales", phrase="sales")]
    new = [
        *FLOWS,
        option("menu", "1", "sales", phrase="sales team"),
        option("menu", "2", "voicemail", phrase="voicemail"),
        option("menu", "", "text-address", phrase="address"),
    ]
    assert changes(old, new) == [
        'Flow "Main menu": option 1 phrase "sales" -> "sales team"',
        'Flow "Main menu": option 2 (say "voicemail") added -> "Voicemail"',
        'Flow "Main menu": option "address" added -> "Text address"',
    ]


def test_options_are_in_key_order():
    new = [*FLOWS, *(option("menu", digits, "sales") for digits in ("10", "2", "1", "*"))]
    assert changes(FLOWS, new) == [
        'Flow "Main menu": option * added -> "Sales"',
        'Flow "Main menu": option 1 added -> "Sales"',
        'Flow "Main menu": option 2 added -> "Sales"',
        'Flow "Main menu": option 10 added -> "Sales"',
    ]


def test_an_option_whose_flow_was_removed_names_the_flow_as_it_was():
    old = [*FLOWS, option("menu", "1", "sales")]
    new = [*FLOWS[:1], *FLOWS[2:], option("menu", "1", None)]
    assert changes(old, new) == [
        'Flow "Main menu": option 1 now leads to nowhere (was "Sales")',
        'Flow "Sales" removed',
    ]


# --- numbers and SMS rules --------------------------------------------------------------


def test_numbers():
    flows = [flow("menu", "Main menu"), flow("sales", "Sales")]
    old = [
        *flows,
        number("+15005550001", "menu"),
        number("+15005550002", "menu"),
        number("+15005550003"),
        number("+15005550004", "sales"),
    ]
    new = [
        *flows,
        number("+15005550001", "sales"),
        number("+15005550002"),
        number("+15005550003", "menu"),
        number("+15005550005"),
    ]
    assert changes(old, new) == [
        'Number +15005550001 now answers with "Sales" (was "Main menu")',
        'Number +15005550002 no longer answers with "Main menu" (callers hear "not available")',
        'Number +15005550003 now answers with "Main menu"',
        'Number +15005550004 removed (it answered with "Sales")',
        "Number +15005550005 added (no flow answers it)",
    ]


def test_sms_rules():
    old = [
        rule("+15005550006", "", "Thanks for your message!"),
        rule("+15005550006", "HOURS", "9 to 5"),
        rule("+15005550006", "PROMO", "10% off"),
    ]
    new = [
        rule("+15005550006", "", "Thanks!", media_url="https://example.com/logo.png"),
        rule("+15005550006", "ADDRESS", "1 Main St"),
        rule("+15005550006", "HOURS", "9 to 5"),
        rule("+15005550006", "MAP", "", media_url="https://example.com/map.png"),
    ]
    assert changes(old, new) == [
        'SMS rule (default reply) of +15005550006: reply "Thanks for your message!" -> "Thanks!"',
        "SMS rule (default reply) of +15005550006: media URL (blank) -> "
        '"https://example.com/logo.png"',
        'SMS rule ADDRESS of +15005550006 added: "1 Main St"',
        'SMS rule MAP of +15005550006 added: media "https://example.com/map.png"',
        "SMS rule PROMO of +15005550006 removed",
    ]


def test_models_this_module_does_not_know_are_said_to_have_changed():
    extra = {"model": "telephony.voicemailbox", "fields": {"name": "Front desk"}}
    assert changes(SALES, [*SALES, extra]) == ["Voicemail boxes changed"]
    assert changes([*SALES, extra], [*SALES, extra]) == []


def test_a_field_missing_from_an_older_release_is_its_default():
    old = [flow("f", "F"), step("f", 1, "say", text="Hi")]
    new = [flow("f", "F"), step("f", 1, "say", text="Hi", loop=1, voice="")]
    assert changes(old, new) == []


# --- against the database ---------------------------------------------------------------


def test_nothing_published_means_everything_is_added(demo):
    assert describe(None, draft_fixture()) == [
        'Flow "Main menu" added (3 steps, 3 options)',
        'Flow "Sales" added (2 steps)',
        'Flow "Text our address" added (3 steps)',
        'Flow "Voicemail" added (2 steps)',
        'Flow "Voicemail thanks" added (2 steps)',
        'Flow "We are closed" added (2 steps)',
        'Number +15005550006 now answers with "Main menu"',
        "SMS rule (default reply) of +15005550006 added: "
        '"Thanks for your message! Text HOURS for our opening hours…"',
        'SMS rule HOURS of +15005550006 added: "We are open Monday to Friday, 9am to 5pm Pacific '
        'time."',
        "Caller rule for +14155550666 calling any of our numbers added: blocked: calls are "
        "refused (reject as if not in service), texts get no reply",
        'Schedule "Office hours" added (America/Los_Angeles, US holidays; 5 weekly ranges, '
        "no closed dates)",
    ]
    assert describe_draft() == describe(None, draft_fixture())


@pytest.mark.django_db
def test_describe_draft_compares_the_draft_with_the_live_release(demo):
    publishing.publish(note="demo")
    assert describe_draft() == []

    sales = CallFlow.objects.get(slug="sales")
    dial = Step.objects.get(flow=sales, verb="dial")
    dial.timeout = 30
    dial.save()
    Step.objects.filter(flow=sales).update(position=F("position") + 1)
    Step.objects.create(flow=sales, position=1, verb="say", text="Please hold")
    MenuOption.objects.filter(flow__slug="main-menu", digits="3").delete()
    promo = CallFlow.objects.create(slug="promo", name="Spring promo")
    Step.objects.create(flow=promo, position=1, verb="say", text="Spring sale!")
    phone = PhoneNumber.objects.get(number="+15005550006")
    phone.call_flow = promo
    phone.save()
    SmsRule.objects.filter(keyword="HOURS").update(reply="Open 9 to 6.")
    CallFlow.objects.get(slug="voicemail-thanks").delete()

    assert describe_draft() == [
        'Flow "Main menu": option 3 removed (it led to "Text our address")',
        'Flow "Sales": step 1 (Say) added: "Please hold"',
        'Flow "Sales": step 3 (Dial) timeout 20 -> 30',
        'Flow "Spring promo" added (1 step)',
        'Flow "Voicemail": step 2 (Record) next flow "Voicemail thanks" -> (blank)',
        'Flow "Voicemail thanks" removed',
        'Number +15005550006 now answers with "Spring promo" (was "Main menu")',
        'SMS rule HOURS of +15005550006: reply "We are open Monday to Friday, 9am to 5pm '
        'Pacific time." -> "Open 9 to 6."',
    ]
