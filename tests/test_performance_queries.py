"""The webhooks' database cost is a small constant, and a publish is live at once.

Query counts are pinned for the voice and Gather webhooks on a cold and a warm cache,
for a flow of 1 and of 50 steps and with 1 and with many numbers: none of that may change
the count, and a warm worker makes no query at all for its release. Then every publish
(the admin, a command, another worker) must be live for new calls: at once in this
worker, within TELEPHONY_CACHE_RECHECK_SECONDS in the others; and no draft edit may be.
"""

import pytest

from telephony.flows import cache as flowcache
from telephony.flows import twiml
from telephony.models import CallFlow, FlowsVersion, MenuOption, PhoneNumber, Step
from telephony.releases import publishing
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish, step_path

pytestmark = pytest.mark.django_db

NUMBER = "+14155550100"
# Every inbound call is logged once per CallSid: one INSERT ... ON CONFLICT (telephony/logs/
# calls.py; the tests write it inside the webhook, production queues it for a batch).
CALL_LOG = 3  # SAVEPOINT, INSERT, RELEASE SAVEPOINT: the test runs inside a transaction
# What each answer does to the caller, the call's events (telephony/logs/events.py): the
# same, in every webhook of a call (production queues them with the call's row).
EVENTS = 3
# The worker reads FlowsVersion when it starts, then once per interval.
VERSION_READ = 1
# Reading a release into memory: its fixture, then the draft's keys of its flows (so
# call logs link to the rows staff see). Once per worker and release.
RELEASE_READ = 2
# A flow of it, the first time it is asked for: the draft's keys of its steps and options.
FLOW_READ = 2
# A number of it, the first time it is called: its draft row's key.
NUMBER_READ = 1
VOICE_COLD = VERSION_READ + RELEASE_READ + NUMBER_READ + FLOW_READ + CALL_LOG + EVENTS
VOICE_WARM = CALL_LOG + EVENTS  # nothing for the flow
GATHER_COLD = VERSION_READ + RELEASE_READ + 2 * FLOW_READ + EVENTS  # the menu, its option's target
GATHER_WARM = EVENTS  # nothing for the flows


@pytest.fixture(autouse=True)
def once_an_hour(settings):
    """Within one recheck interval, unless a test says otherwise (the tests' default is 0)."""
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 3600


@pytest.fixture
def clock(monkeypatch):
    """The cache's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(flowcache.time, "monotonic", lambda: now[0])
    return now


def says(n):
    return [{"verb": "say", "text": f"Step {i}."} for i in range(n)]


def menu(steps: int, slug="menu") -> CallFlow:
    """A flow of `steps` steps whose Gather (the first step) sends 1 to `target`."""
    target = make_flow(f"{slug}-target", steps=says(steps))
    return make_flow(
        slug,
        steps=[{"verb": "gather", "input": "dtmf", "num_digits": 1}, *says(steps - 1)],
        options=[("1", target)],
    )


def many_numbers(flow, count=500):
    PhoneNumber.objects.bulk_create(
        PhoneNumber(number=f"+1212555{i:04d}", call_flow=flow) for i in range(count)
    )


def gather_path(flow: CallFlow, release=None) -> str:
    return step_path(flow.slug, "gather", "gather", release=release)


def call(twilio, number=NUMBER):
    return parse_twiml(twilio.post("/twilio/voice/", {"To": number, "CallSid": "CA1"}))


def said(root):
    return [el.text for el in root.iter("Say")]


@pytest.mark.parametrize("steps", [1, 50])
@pytest.mark.parametrize("numbers", [0, 500])
def test_voice_webhook_queries_are_constant(twilio, django_assert_num_queries, steps, numbers):
    flow = make_flow("long", steps=says(steps))
    make_number(NUMBER, flow)
    many_numbers(flow, numbers)
    publish()
    flowcache.clear()  # a worker that has not served this release yet
    with django_assert_num_queries(VOICE_COLD):
        root = call(twilio)
    assert len(root) == steps
    with django_assert_num_queries(VOICE_WARM):
        assert len(call(twilio)) == steps


@pytest.mark.parametrize("steps", [1, 50])
@pytest.mark.parametrize("numbers", [0, 500])
def test_gather_webhook_queries_are_constant(twilio, django_assert_num_queries, steps, numbers):
    flow = menu(steps)
    many_numbers(flow, numbers)
    publish()
    path = gather_path(flow)
    flowcache.clear()
    with django_assert_num_queries(GATHER_COLD):
        root = parse_twiml(twilio.post(path, {"Digits": "1", "CallSid": "CA1"}))
    assert said(root) == [f"Step {i}." for i in range(steps)]  # the target flow
    with django_assert_num_queries(GATHER_WARM):
        assert len(parse_twiml(twilio.post(path, {"Digits": "1", "CallSid": "CA1"}))) == steps


def test_warm_voice_and_gather_share_the_release(twilio, django_assert_num_queries):
    flow = menu(3)
    make_number(NUMBER, flow)
    publish()
    path = gather_path(flow)
    call(twilio)
    # The Gather action finds the option's target in the release the call already read:
    # only the target's own rows are built, once.
    with django_assert_num_queries(FLOW_READ):
        assert said(parse_twiml(twilio.post(path, {"Digits": "1"}))) == [
            f"Step {i}." for i in range(3)
        ]
    with django_assert_num_queries(0):
        parse_twiml(twilio.post(path, {"Digits": "1"}))


def test_a_wrong_number_is_cached_too(twilio, django_assert_num_queries):
    publish()
    call(twilio, "+14155550199")
    with django_assert_num_queries(VOICE_WARM):
        assert said(call(twilio, "+14155550199")) == [twiml.NOT_IN_SERVICE]


def test_a_warm_call_reads_the_version_once_per_interval(
    twilio, django_assert_num_queries, settings, clock
):
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 1
    make_number(NUMBER, make_flow("f", steps=says(2)))
    publish()
    call(twilio)
    with django_assert_num_queries(VOICE_WARM):
        call(twilio)
    clock[0] += 1.5
    with django_assert_num_queries(VOICE_WARM + VERSION_READ):
        assert len(call(twilio)) == 2
    with django_assert_num_queries(VOICE_WARM):
        call(twilio)


def test_caching_can_be_switched_off(twilio, django_assert_num_queries, settings):
    settings.TELEPHONY_CACHE_ENABLED = False
    make_number(NUMBER, make_flow("f", steps=says(2)))
    publish()
    for _ in range(2):
        # Uncached, the release is read for its caller rules, then again for the answer.
        read = 2 * RELEASE_READ + NUMBER_READ + FLOW_READ
        with django_assert_num_queries(VERSION_READ + read + CALL_LOG + EVENTS):
            assert len(call(twilio)) == 2


def test_the_per_worker_store_is_bounded(twilio, django_assert_num_queries, settings):
    settings.TELEPHONY_CACHE_MAX_ENTRIES = 3  # a release, its target flow's TwiML and events
    flow = menu(1)
    releases = []
    for i in range(4):  # four releases, each read by a Gather
        Step.objects.filter(flow__slug="menu-target").update(text=f"Release {i}.")
        flowcache.invalidate()  # a bulk update sends no signal
        releases.append(str(publish()))
    paths = [gather_path(flow, release) for release in releases]
    for path in paths:
        parse_twiml(twilio.post(path, {"Digits": "1"}))
    with django_assert_num_queries(0):  # the last one is held (no CallSid: no events)...
        parse_twiml(twilio.post(paths[-1], {"Digits": "1"}))
    # ...the least recently used was dropped: read again (the version, unchanged, is not).
    with django_assert_num_queries(RELEASE_READ + 2 * FLOW_READ):
        root = parse_twiml(twilio.post(paths[0], {"Digits": "1"}))
    assert said(root) == ["Release 0."]


# --- a publish is live on the next call; an edit is not --------------------------------


def admin_flow_form(flow: CallFlow, texts) -> dict:
    """The admin change form of a flow of Say steps, with the steps' texts replaced."""
    steps = list(flow.steps.order_by("position"))
    data = {
        "name": flow.name,
        "slug": flow.slug,
        "description": "",
        "is_active": "on",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "options-TOTAL_FORMS": "0",
        "options-INITIAL_FORMS": "0",
        "options-MIN_NUM_FORMS": "0",
        "options-MAX_NUM_FORMS": "1000",
    }
    for i, (step, text) in enumerate(zip(steps, texts, strict=True)):
        fields = {"id": step.pk, "flow": flow.pk, "position": step.position, "verb": "say"}
        # The editor names a step's fields after its verb (telephony/admin/step_forms.py).
        fields |= {"say_text": text, "say_loop": 1}
        data.update({f"steps-{i}-{key}": value for key, value in fields.items()})
    return data


def test_an_admin_edit_is_the_draft_until_published(
    admin_client, twilio, django_capture_on_commit_callbacks
):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    publish()
    assert said(call(twilio)) == ["Old."]
    assert said(call(twilio)) == ["Old."]  # now served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/telephony/callflow/{flow.pk}/change/", admin_flow_form(flow, ["New."])
        )
    assert response.status_code == 302
    assert said(call(twilio)) == ["Old."]  # callers get the live release
    with django_capture_on_commit_callbacks(execute=True):
        publish()
    assert said(call(twilio)) == ["New."]


def test_moving_a_number_to_another_flow_is_live_once_published(admin_client, twilio):
    make_number(NUMBER, make_flow("a", steps=[{"verb": "say", "text": "A."}]))
    b = make_flow("b", steps=[{"verb": "say", "text": "B."}])
    publish()
    assert said(call(twilio)) == ["A."]
    phone = PhoneNumber.objects.get(number=NUMBER)
    data = {"number": NUMBER, "friendly_name": "", "sid": "", "call_flow": b.pk}
    data |= {"voice_capable": "on", "sms_capable": "on", "send_rate": "1"}
    data |= {"sms_rules-TOTAL_FORMS": "0", "sms_rules-INITIAL_FORMS": "0"}  # SMS rules inline
    response = admin_client.post(f"/admin/telephony/phonenumber/{phone.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    assert said(call(twilio)) == ["A."]
    publish()
    assert said(call(twilio)) == ["B."]


def test_a_published_option_target_is_live_and_calls_in_progress_keep_theirs(twilio):
    flow = menu(1)
    other = make_flow("other", steps=[{"verb": "say", "text": "Other."}])
    first = publish()
    path = gather_path(flow)
    assert said(parse_twiml(twilio.post(path, {"Digits": "1"}))) == ["Step 0."]
    option = MenuOption.objects.get(flow=flow)
    option.target_flow = other
    option.save()
    second = publish()
    assert said(parse_twiml(twilio.post(gather_path(flow), {"Digits": "1"}))) == ["Other."]
    # A call that heard the menu of the first release still gets its option.
    assert said(parse_twiml(twilio.post(gather_path(flow, str(first)), {"Digits": "1"}))) == [
        "Step 0."
    ]
    assert second == first + 1


def test_deactivating_and_deleting_are_live_once_published(twilio):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi."}])
    make_number(NUMBER, flow)
    publish()
    assert said(call(twilio)) == ["Hi."]
    flow.is_active = False
    flow.save()
    publish()
    assert said(call(twilio)) == [twiml.UNAVAILABLE]
    flow.delete()
    publish()
    assert said(call(twilio)) == [twiml.UNAVAILABLE]  # the number is left without a flow
    PhoneNumber.objects.get(number=NUMBER).delete()
    publish()
    assert said(call(twilio)) == [twiml.NOT_IN_SERVICE]


def test_steps_added_and_deleted_are_live_once_published(twilio):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi."}])
    make_number(NUMBER, flow)
    publish()
    call(twilio)
    Step.objects.create(flow=flow, position=2, verb="hangup")
    assert verbs(call(twilio)) == ["Say"]
    publish()
    assert verbs(call(twilio)) == ["Say", "Hangup"]
    flow.steps.get(verb="say").delete()
    publish()
    assert verbs(call(twilio)) == ["Hangup"]


def test_a_publish_by_another_worker_is_live_within_the_interval(
    twilio, settings, clock, monkeypatch
):
    """Another worker's publish reaches us only through FlowsVersion: no notice here."""
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 1
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    publish()
    assert said(call(twilio)) == ["Old."]
    Step.objects.filter(flow=flow).update(text="New.")
    monkeypatch.setattr(flowcache, "live_release_changed", lambda number: None)
    publish()  # as if published elsewhere: only the row tells
    assert said(call(twilio)) == ["Old."]  # cached: this worker cannot know yet...
    clock[0] += 0.9
    assert said(call(twilio)) == ["Old."]
    clock[0] += 0.2
    assert said(call(twilio)) == ["New."]  # ...until its next look at the version


def test_a_draft_edit_costs_live_calls_one_version_read_and_no_reload(
    twilio, django_assert_num_queries
):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi."}])
    make_number(NUMBER, flow)
    publish()
    call(twilio)
    step = flow.steps.get()
    step.text = "Draft."
    step.save()
    with django_assert_num_queries(VERSION_READ + CALL_LOG + EVENTS):
        assert said(call(twilio)) == ["Hi."]


def test_every_draft_change_counts_in_the_same_transaction():
    before = FlowsVersion.current()[0]
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi."}])
    after_create = FlowsVersion.current()[0]
    assert after_create > before
    flow.save()
    assert FlowsVersion.current()[0] == after_create + 1
    flow.delete()  # the flow and its step
    assert FlowsVersion.current()[0] >= after_create + 3


def test_this_workers_own_publish_is_live_at_once(twilio, settings):
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 3600
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    publishing.publish(note="first")
    assert said(call(twilio)) == ["Old."]
    step = flow.steps.get()
    step.text = "New."
    step.save()
    publishing.publish(note="second")
    assert said(call(twilio)) == ["New."]
