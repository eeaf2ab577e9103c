"""Caller rules: blocked and priority callers, for calls and texts, published with the
release; which rule wins; the checks, the diff and the admin."""

import pytest
from django.core.exceptions import ValidationError

from telephony.flows import callers
from telephony.models import CallerRule, MessageLog, OptOut, PhoneNumber
from telephony.releases import changes
from telephony.tools.flow_checks import ERROR, find_problems
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, publish

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
NUISANCE = "+19005550123"
VIP = "+14155550188"
GREETING = "Thank you for calling the Switchboard demo."


def call(twilio, caller, sid="CA1"):
    return parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "From": caller, "CallSid": sid}))


def text(twilio, sender, body="hours", sid="SM" + "1" * 32):
    root = parse_twiml(
        twilio.post("/twilio/sms/", {"MessageSid": sid, "From": sender, "To": DEMO, "Body": body})
    )
    message = root.find("Message")
    return None if message is None else message.text


def rule(pattern, **fields):
    made = CallerRule(pattern=pattern, **fields)
    made.full_clean()
    made.save()
    return made


# --- calls and texts -------------------------------------------------------------------------


def test_a_blocked_prefix_hears_busy_once_published_and_others_the_menu(live_demo, twilio):
    rule("+1900*", note="Premium-rate spam")
    assert verbs(call(twilio, NUISANCE)) != ["Reject"]  # the draft: not yet live
    publish()
    root = call(twilio, NUISANCE, sid="CA2")
    assert verbs(root) == ["Reject"] and root.find("Reject").get("reason") == "busy"
    assert (
        parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "From": VIP})).find("Say").text
        == GREETING
    )


@pytest.mark.parametrize("caller", ["anonymous", "Restricted", "+266696687", ""])
def test_anonymous_callers_can_be_refused_as_not_in_service(live_demo, twilio, caller):
    rule("Anonymous", action=CallerRule.Action.REJECTED)
    publish()
    root = call(twilio, caller)
    assert root.find("Reject").get("reason") == "rejected"


def test_a_priority_caller_goes_to_their_flow_on_one_number_only(live_demo, twilio):
    vip = make_flow("vip", steps=[{"verb": "say", "text": "Hello, valued customer."}])
    other = PhoneNumber.objects.create(number="+14155550111", call_flow=vip)
    rule(VIP, phone_number=PhoneNumber.objects.get(number=DEMO), kind="priority", flow=vip)
    publish()
    assert [s.text for s in call(twilio, VIP).iter("Say")] == ["Hello, valued customer."]
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": str(other.number), "From": VIP}))
    assert [s.text for s in root.iter("Say")] == ["Hello, valued customer."]  # its own flow


def test_a_blocked_sender_gets_no_reply_but_is_logged_and_stop_still_counts(live_demo, twilio):
    rule(NUISANCE)
    publish()
    assert text(twilio, NUISANCE) is None
    assert MessageLog.objects.filter(from_number=NUISANCE).exists()
    assert text(twilio, NUISANCE, body="STOP", sid="SM" + "2" * 32) is None
    assert OptOut.objects.filter(number=NUISANCE).exists()
    assert text(twilio, VIP, sid="SM" + "3" * 32)  # others get their reply


def test_a_rule_for_calls_only_leaves_texts_alone(live_demo, twilio):
    rule(NUISANCE, applies_to_sms=False)
    publish()
    assert text(twilio, NUISANCE)
    assert verbs(call(twilio, NUISANCE)) == ["Reject"]


def test_the_number_s_own_rule_wins_over_every_number_s_and_exact_over_prefix(live_demo):
    demo = PhoneNumber.objects.get(number=DEMO)
    vip = make_flow("vip", steps=[{"verb": "say", "text": "VIP"}])
    rule("+1900*")  # every number: block
    rule("+1900555*", phone_number=demo, kind="priority", flow=vip)
    rule(NUISANCE, phone_number=demo, action=CallerRule.Action.REJECTED)
    publish()
    from telephony.flows.loading import live_snapshot

    rules = live_snapshot().caller_rules
    assert callers.rule_for(rules, to=DEMO, caller=NUISANCE).action == "rejected"
    assert callers.rule_for(rules, to=DEMO, caller="+19005550999").kind == "priority"
    assert callers.rule_for(rules, to="+14155550111", caller=NUISANCE).action == "busy"
    assert callers.rule_for(rules, to=DEMO, caller="+14155550100") is None


def test_a_call_on_a_release_keeps_its_rules_until_the_next_publish(live_demo, twilio):
    rule(NUISANCE)
    publish()
    CallerRule.objects.all().delete()  # the draft forgives...
    assert verbs(call(twilio, NUISANCE)) == ["Reject"]  # ...callers get the release
    publish()
    assert verbs(call(twilio, NUISANCE, sid="CA2")) != ["Reject"]


# --- validation, checks, the diff -----------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, message",
    [("12345", "not a phone number"), ("+1-900*", "prefix"), ("", "cannot be blank")],
)
def test_a_caller_that_is_no_number_prefix_or_anonymous_is_refused(db, pattern, message):
    with pytest.raises(ValidationError) as caught:
        rule(pattern)
    assert message in caught.value.message_dict["pattern"][0]


def test_a_rule_sending_to_a_flow_needs_one_and_numbers_are_normalised(db):
    with pytest.raises(ValidationError) as caught:
        rule("+1 415 555 0188", kind="priority")
    assert "Choose the flow" in caught.value.message_dict["flow"][0]
    made = rule("+1 415 555 0188")
    assert made.pattern == VIP
    with pytest.raises(ValidationError):
        rule(VIP)  # one rule per caller and number


def test_a_rule_whose_flow_was_deleted_blocks_publishing(live_demo):
    vip = make_flow("vip", steps=[{"verb": "say", "text": "VIP"}])
    rule(VIP, kind="priority", flow=vip)
    vip.delete()
    errors = [f for f in find_problems() if f.severity == ERROR]
    assert any("Caller rule for +14155550188" in f.message for f in errors), errors


def test_the_diff_names_caller_rules_in_words(live_demo):
    rule("+1900*", note="spam")
    assert changes.describe_draft() == [
        "Caller rule for +1900* calling any of our numbers added: blocked: calls are "
        "refused (reject with a busy signal), texts get no reply"
    ]


def test_discarding_the_draft_removes_an_unpublished_rule(live_demo):
    from telephony.releases import drafts

    rule("+1900*")
    drafts.discard_changes()
    assert list(CallerRule.objects.values_list("pattern", flat=True)) == ["+14155550666"]


def test_the_admin_lists_and_adds_rules(live_demo, admin_client):
    response = admin_client.post(
        "/admin/telephony/callerrule/add/",
        {
            "pattern": "+1900*",
            "phone_number": "",
            "kind": "block",
            "note": "spam",
            "action": "busy",
            "flow": "",
            "applies_to_sms": "on",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    page = admin_client.get("/admin/telephony/callerrule/").content.decode()
    assert "+1900*" in page and "every number" in page
    assert "not yet published" in page  # the draft notice


def test_the_demo_refuses_its_nuisance_caller(live_demo, twilio):
    root = call(twilio, "+14155550666")
    assert verbs(root) == ["Reject"] and root.find("Reject").get("reason") == "rejected"
