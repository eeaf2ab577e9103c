"""The webhooks' database cost is a small constant, and the flow cache never serves stale flows.

Query counts are pinned for the voice and Gather webhooks on a cold and a warm cache,
for a flow of 1 and of 50 steps and with 1 and with many numbers: none of that may change
the count. Then every way staff change a flow (the admin, the ORM, another worker) must
be live on the next call.

These tests run with the flow cache's notices on (telephony/cachenotices.py): on
PostgreSQL the LISTEN connection, on SQLite a stamp file. The test database is an
in-memory SQLite one, which has no stamp file of its own, so each test gets a temporary
one (`notices` below) and the counts are the same on both databases.
tests/test_flowcache_notices.py tests the notices themselves.
"""

import socket

import pytest
from django.core.cache import caches

from telephony.flows import cache as flowcache
from telephony.flows import twiml
from telephony.models import CallFlow, MenuOption, PhoneNumber, Step
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number
from tests.test_flowcache_notices import another_worker_saved

pytestmark = pytest.mark.django_db

NUMBER = "+14155550100"
# Every inbound call is logged once per CallSid: one INSERT ... ON CONFLICT (telephony/
# calllog.py; the tests write it inside the webhook, production queues it for a batch).
CALL_LOG = 1
# Cold: the generation token, then the number joined with its flow, its steps, its options.
VOICE_COLD = 4 + CALL_LOG
# Warm: nothing for the flow - the notice said the token is unchanged, so it is not read.
# Without notices (TELEPHONY_CACHE_NOTICES off, an in-memory SQLite database, the listen
# connection down) the token is read: one more query (TOKEN_READ).
VOICE_WARM = CALL_LOG
TOKEN_READ = 1
# Cold: the token, then the flow, its steps, its options; then the same three for the
# option's target flow. Warm: nothing.
GATHER_COLD = 7
GATHER_WARM = 0


@pytest.fixture(autouse=True)
def notices(settings, tmp_path):
    """A stamp file for the in-memory SQLite test database (ignored on PostgreSQL)."""
    settings.TELEPHONY_CACHE_STAMP_FILE = tmp_path / "flows-changed"


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


def gather_path(flow: CallFlow) -> str:
    step = flow.steps.get(verb="gather")
    return f"/twilio/voice/flows/{flow.slug}/steps/{step.pk}/gather/"


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
    path = gather_path(flow)
    with django_assert_num_queries(GATHER_COLD):
        root = parse_twiml(twilio.post(path, {"Digits": "1", "CallSid": "CA1"}))
    assert said(root) == [f"Step {i}." for i in range(steps)]  # the target flow
    with django_assert_num_queries(GATHER_WARM):
        assert len(parse_twiml(twilio.post(path, {"Digits": "1"}))) == steps


def test_warm_voice_and_gather_share_the_cache_of_the_flow(twilio, django_assert_num_queries):
    flow = menu(3)
    make_number(NUMBER, flow)
    path = gather_path(flow)
    call(twilio)
    # The Gather action of the same flow needs nothing more than the target flow.
    with django_assert_num_queries(3):
        parse_twiml(twilio.post(path, {"Digits": "1"}))


def test_a_wrong_number_is_cached_too(twilio, django_assert_num_queries):
    call(twilio, "+14155550199")
    with django_assert_num_queries(VOICE_WARM):
        assert said(call(twilio, "+14155550199")) == [twiml.NOT_IN_SERVICE]


def test_without_notices_a_warm_call_reads_the_token(twilio, django_assert_num_queries, settings):
    settings.TELEPHONY_CACHE_NOTICES = False
    make_number(NUMBER, make_flow("f", steps=says(2)))
    call(twilio)
    with django_assert_num_queries(VOICE_WARM + TOKEN_READ):
        assert len(call(twilio)) == 2


def test_caching_can_be_switched_off(twilio, django_assert_num_queries, settings):
    settings.TELEPHONY_CACHE_ENABLED = False
    make_number(NUMBER, make_flow("f", steps=says(2)))
    for _ in range(2):
        with django_assert_num_queries(3 + CALL_LOG):
            assert len(call(twilio)) == 2


def test_the_per_worker_store_is_bounded(twilio, django_assert_num_queries, settings):
    settings.TELEPHONY_CACHE_MAX_ENTRIES = 3  # entries: each number, the flow, its TwiML
    flow = make_flow("f", steps=says(1))
    for i in range(3):
        make_number(f"+1415555020{i}", flow)
    for i in range(3):
        call(twilio, f"+1415555020{i}")
    with django_assert_num_queries(VOICE_WARM):
        call(twilio, "+14155550202")
    # The least recently used was dropped: read again (the token, unchanged, is not).
    with django_assert_num_queries(VOICE_COLD - TOKEN_READ):
        call(twilio, "+14155550200")


# --- an edit is live on the next call ----------------------------------------------------


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
        fields |= {"text": text, "loop": 1, "length": 1, "input": "dtmf", "dial_kind": "number"}
        fields |= {"reason": "rejected", "play_beep": "on"}
        data.update({f"steps-{i}-{key}": value for key, value in fields.items()})
    return data


def test_admin_edit_is_live_on_the_next_call(
    admin_client, twilio, django_capture_on_commit_callbacks
):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    assert said(call(twilio)) == ["Old."]
    assert said(call(twilio)) == ["Old."]  # now served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/telephony/callflow/{flow.pk}/change/", admin_flow_form(flow, ["New."])
        )
    assert response.status_code == 302
    assert said(call(twilio)) == ["New."]


def test_admin_moving_a_number_to_another_flow_is_live(admin_client, twilio):
    make_number(NUMBER, make_flow("a", steps=[{"verb": "say", "text": "A."}]))
    b = make_flow("b", steps=[{"verb": "say", "text": "B."}])
    assert said(call(twilio)) == ["A."]
    phone = PhoneNumber.objects.get(number=NUMBER)
    data = {"number": NUMBER, "friendly_name": "", "sid": "", "call_flow": b.pk}
    data |= {"voice_capable": "on", "sms_capable": "on"}
    data |= {"sms_rules-TOTAL_FORMS": "0", "sms_rules-INITIAL_FORMS": "0"}  # SMS rules inline
    response = admin_client.post(f"/admin/telephony/phonenumber/{phone.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    assert said(call(twilio)) == ["B."]


def test_changing_an_option_target_is_live(twilio):
    flow = menu(1)
    other = make_flow("other", steps=[{"verb": "say", "text": "Other."}])
    path = gather_path(flow)
    assert said(parse_twiml(twilio.post(path, {"Digits": "1"}))) == ["Step 0."]
    option = MenuOption.objects.get(flow=flow)
    option.target_flow = other
    option.save()
    assert said(parse_twiml(twilio.post(path, {"Digits": "1"}))) == ["Other."]


def test_deactivating_and_deleting_are_live(twilio):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi."}])
    make_number(NUMBER, flow)
    assert said(call(twilio)) == ["Hi."]
    flow.is_active = False
    flow.save()
    assert said(call(twilio)) == [twiml.UNAVAILABLE]
    flow.delete()
    assert said(call(twilio)) == [twiml.UNAVAILABLE]  # the number is left without a flow
    PhoneNumber.objects.get(number=NUMBER).delete()
    assert said(call(twilio)) == [twiml.NOT_IN_SERVICE]


def test_step_added_and_deleted_are_live(twilio):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi."}])
    make_number(NUMBER, flow)
    call(twilio)
    Step.objects.create(flow=flow, position=2, verb="hangup")
    assert verbs(call(twilio)) == ["Say", "Hangup"]
    flow.steps.get(verb="say").delete()
    assert verbs(call(twilio)) == ["Hangup"]


def test_an_edit_saved_by_another_worker_is_live(twilio):
    """Another worker's save reaches us only through the shared token: no signal here."""
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    assert said(call(twilio)) == ["Old."]
    Step.objects.filter(flow=flow).update(text="New.")  # no signal in this process
    assert said(call(twilio)) == ["Old."]  # cached: this worker cannot know yet...
    another_worker_saved()
    assert said(call(twilio)) == ["New."]  # ...until the token changes, and it is told so


def test_the_token_is_rewritten_after_commit(django_capture_on_commit_callbacks):
    make_flow("f")
    before = flowcache.current_generation()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        CallFlow.objects.get(slug="f").save()
        during = flowcache.current_generation()
    assert during != before
    assert len(callbacks) == 1
    assert flowcache.current_generation() not in (before, during)


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_with_a_shared_cache_a_warm_call_costs_no_query(
    twilio, settings, django_assert_num_queries
):
    settings.CACHES = {
        **settings.CACHES,
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "KEY_PREFIX": "switchboard-tests-performance",
        },
    }
    settings.TELEPHONY_CACHE = "shared"  # the token in Redis: read every request, no notices
    caches["shared"].delete(flowcache.GENERATION_KEY)
    try:
        flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
        make_number(NUMBER, flow)
        with django_assert_num_queries(3 + CALL_LOG):
            assert said(call(twilio)) == ["Old."]
        with django_assert_num_queries(CALL_LOG):  # nothing but the call's log row
            assert said(call(twilio)) == ["Old."]
        step = flow.steps.get()
        step.text = "New."
        step.save()
        assert said(call(twilio)) == ["New."]
    finally:
        caches["shared"].delete(flowcache.GENERATION_KEY)


def test_recheck_interval_reads_the_token_once_per_interval(
    twilio, settings, monkeypatch, django_assert_num_queries
):
    """TELEPHONY_CACHE_RECHECK_SECONDS: another worker's save shows up within the interval.

    The interval spaces the token reads of a worker without notices (with them, the token
    is only read when it changed, at once).
    """
    settings.TELEPHONY_CACHE_NOTICES = False
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 5
    clock = [1000.0]
    monkeypatch.setattr(flowcache.time, "monotonic", lambda: clock[0])
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    assert said(call(twilio)) == ["Old."]
    with django_assert_num_queries(CALL_LOG):  # no token read within the interval
        assert said(call(twilio)) == ["Old."]
    Step.objects.filter(flow=flow).update(text="New.")
    caches[flowcache.DATABASE_ALIAS].set(flowcache.GENERATION_KEY, "another-worker", None)
    clock[0] += 4
    assert said(call(twilio)) == ["Old."]  # still within the interval
    clock[0] += 2
    assert said(call(twilio)) == ["New."]


def test_recheck_interval_never_delays_this_workers_own_saves(twilio, settings):
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 3600
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    assert said(call(twilio)) == ["Old."]
    step = flow.steps.get()
    step.text = "New."
    step.save()
    assert said(call(twilio)) == ["New."]
