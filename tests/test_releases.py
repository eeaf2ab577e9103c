"""Releases: publish, roll back, discard; calls finish on the release they began with;
test callers hear the draft; the upgrade publishes existing data as release 1."""

import json
import threading

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

from telephony.exceptions import NothingToPublish, PublishBlocked, PublishConflict
from telephony.flows import cache as flowcache
from telephony.flows.fixtures import draft_fixture
from telephony.models import (
    CallFlow,
    CallLog,
    FlowsVersion,
    MenuOption,
    Release,
    SmsRule,
    Step,
    TestCaller,
)
from telephony.releases import drafts, publishing
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish

DEMO = "+15005550006"
CALLER = "+14155551234"
TESTER = "+14155550177"
GREETING = "Thank you for calling the Switchboard demo."


def said(root):
    return [element.text for element in root.iter("Say")]


def call(twilio, caller=CALLER, sid="CA1"):
    return parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "From": caller, "CallSid": sid}))


def edit_greeting(text):
    step = Step.objects.get(flow__slug="main-menu", position=1)
    step.text = text
    step.save()


# --- publishing -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_release_is_the_draft_as_a_natural_key_fixture_with_who_when_and_why(demo, admin_user):
    published = publishing.publish(note="First go.", author=admin_user)
    release = published.release
    assert (release.number, release.note, release.author) == (1, "First go.", admin_user)
    assert published.previous is None
    objects = json.loads(release.fixture)
    assert objects and all("pk" not in obj for obj in objects)  # moves between databases
    menu = next(o for o in objects if o["model"] == "telephony.menuoption")
    assert menu["fields"]["flow"] == ["main-menu"]  # references by natural key
    assert release.fixture == draft_fixture() and len(release.content_hash) == 64
    assert FlowsVersion.current()[1] == 1


@pytest.mark.django_db
def test_publishing_the_live_release_again_is_refused(live_demo):
    with pytest.raises(NothingToPublish, match="the draft is release 1"):
        publishing.publish(note="again")
    assert Release.objects.count() == 1


@pytest.mark.django_db
def test_a_redirect_loop_blocks_publishing_and_is_listed(live_demo, twilio):
    a = make_flow("loop-a", steps=[])
    b = make_flow("loop-b", steps=[{"verb": "redirect", "next_flow": a}])
    Step.objects.create(flow=a, position=1, verb="redirect", next_flow=b)
    with pytest.raises(PublishBlocked) as blocked:
        publishing.publish(note="loops")
    errors = [str(f) for f in blocked.value.findings if f.severity == "error"]
    assert any("loop-a" in error or "loop-b" in error for error in errors), errors
    assert FlowsVersion.current()[1] == 1 and Release.objects.count() == 1
    assert said(call(twilio))[0] == GREETING  # callers never met the loop


@pytest.mark.django_db
def test_warnings_are_reported_and_do_not_block(live_demo):
    make_flow("orphan", steps=[{"verb": "say", "text": "Nobody reaches me."}])
    published = publishing.publish(note="with an orphan")
    assert published.release.number == 2
    assert any("orphan" in f.flow for f in published.warnings)


@pytest.mark.django_db
def test_a_publish_reviewed_against_an_older_release_is_refused(live_demo):
    edit_greeting("Edit one.")
    publishing.publish(note="by someone else", expected_live=1)
    edit_greeting("Edit two.")
    with pytest.raises(PublishConflict, match="Release 2 was published meanwhile"):
        publishing.publish(note="mine", expected_live=1)
    assert publishing.publish(note="mine", expected_live=2).release.number == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_concurrent_publishes_one_wins_the_other_is_told(live_demo):
    edit_greeting("Concurrent edit.")
    barrier, outcomes = threading.Barrier(2), []

    def publish_in_a_thread(note):
        try:
            barrier.wait()
            outcomes.append(publishing.publish(note=note, expected_live=1).release.number)
        except PublishConflict as conflict:
            outcomes.append(conflict)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=publish_in_a_thread, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(map(type, outcomes), key=str) == sorted([int, PublishConflict], key=str)
    assert list(Release.objects.values_list("number", flat=True)) == [2, 1]


# --- roll back, discard ---------------------------------------------------------------------


@pytest.mark.django_db
def test_rolling_back_makes_an_earlier_release_live_as_a_new_release(live_demo, twilio):
    edit_greeting("Version two.")
    publish()
    assert said(call(twilio))[0] == "Version two."
    rolled = publishing.roll_back(to=1, note="Two was wrong.")
    assert (rolled.release.number, rolled.release.rolled_back_to) == (3, 1)
    assert rolled.release.content_hash == Release.objects.get(number=1).content_hash
    assert said(call(twilio, sid="CA2"))[0] == GREETING
    # The draft keeps its edit: rolling back changes what callers get, not what staff edit.
    assert Step.objects.get(flow__slug="main-menu", position=1).text == "Version two."
    with pytest.raises(NothingToPublish):
        publishing.roll_back(to=1)


@pytest.mark.django_db
def test_discarding_resets_the_draft_to_the_live_release_keeping_its_rows(live_demo, twilio):
    call(twilio)  # a call log row linked to the main menu's row
    menu_pk = CallFlow.objects.get(slug="main-menu").pk
    edit_greeting("Half-finished edit.")
    make_flow("scratch", steps=[{"verb": "say", "text": "Draft only."}])
    MenuOption.objects.filter(flow__slug="main-menu", digits="3").delete()
    SmsRule.objects.all().delete()
    drafts.discard_changes()
    assert draft_fixture() == Release.objects.get(number=1).fixture
    assert not CallFlow.objects.filter(slug="scratch").exists()
    assert CallFlow.objects.get(slug="main-menu").pk == menu_pk  # updated in place
    assert CallLog.objects.get(sid="CA1").flow_id == menu_pk


# --- calls stay on their release ------------------------------------------------------------


@pytest.mark.django_db
def test_a_call_that_began_before_a_publish_finishes_on_its_release(live_demo, twilio):
    first = call(twilio)
    gather = first.find("Gather").get("action")
    assert "/releases/1/" in gather
    # Staff rework the menu: option 2 now goes elsewhere, and the voicemail flow is gone.
    edit_greeting("The new menu.")
    elsewhere = make_flow("elsewhere", steps=[{"verb": "say", "text": "Somewhere else."}])
    MenuOption.objects.filter(flow__slug="main-menu", digits="2").update(target_flow=elsewhere)
    CallFlow.objects.filter(slug="voicemail").delete()
    Step.objects.filter(flow__slug="sales", verb="dial").update(next_flow=elsewhere)
    Step.objects.filter(flow__slug="closed", verb="redirect").update(next_flow=elsewhere)
    flowcache.invalidate()  # bulk updates send no signal
    publish()
    assert said(call(twilio, sid="CA2"))[0] == "The new menu."  # new calls: release 2
    # The call of release 1 presses 2 and reaches release 1's voicemail, records, ends.
    voicemail = parse_twiml(twilio.post(gather, {"Digits": "2", "CallSid": "CA1"}))
    assert verbs(voicemail) == ["Say", "Record"]
    record = voicemail.find("Record")
    assert "/releases/1/flows/voicemail/" in record.get("action")
    assert "/releases/1/" in record.get("recordingStatusCallback")
    after = parse_twiml(twilio.post(record.get("action"), {"CallSid": "CA1", "Digits": "#"}))
    assert verbs(after) == ["Say", "Hangup"]
    # Pressing 1 there: sales of release 1, whose unanswered Dial still leads to voicemail.
    sales = parse_twiml(twilio.post(gather, {"Digits": "1", "CallSid": "CA1"}))
    dial_action = sales.find("Dial").get("action")
    assert "/releases/1/flows/sales/" in dial_action
    unanswered = parse_twiml(twilio.post(dial_action, {"DialCallStatus": "no-answer"}))
    assert verbs(unanswered) == ["Say", "Record"]
    # Silence: the menu is asked again, as release 1 has it, counting the try.
    again = parse_twiml(twilio.post(gather, {"Digits": "", "CallSid": "CA1"}))
    assert again.find("Gather").get("action") == gather + "?try=2"
    assert "voicemail" in again.find("Gather/Say").text


@pytest.mark.django_db
def test_queue_wait_music_and_sms_step_urls_keep_their_release(db, twilio, settings):
    settings.TELEPHONY_BACKEND = "locmem"
    after = make_flow("after", steps=[{"verb": "say", "text": "Nobody is free."}])
    queue = make_flow(
        "queue",
        steps=[
            {"verb": "enqueue", "dial_target": "support", "url": "https://x.example/hold.mp3"},
        ],
    )
    Step.objects.filter(flow=queue).update(next_flow=after)
    text = make_flow("text", steps=[{"verb": "sms", "text": "1 Main St"}, {"verb": "hangup"}])
    make_number(DEMO, queue)
    publish()
    enqueue = call(twilio).find("Enqueue")
    sms_redirect = parse_twiml(twilio.post("/twilio/releases/1/flows/text/", {})).find("Redirect")
    Step.objects.filter(flow__in=[queue, text]).delete()
    CallFlow.objects.filter(slug="after").delete()
    publish()
    wait = parse_twiml(twilio.post(enqueue.get("waitUrl"), {"QueuePosition": "1"}))
    assert wait.find("Play").text == "https://x.example/hold.mp3"
    left = parse_twiml(twilio.post(enqueue.get("action"), {"QueueResult": "leave"}))
    assert said(left) == ["Nobody is free."]
    params = {"CallSid": "CA9", "From": CALLER, "To": DEMO, "Direction": "inbound"}
    assert verbs(parse_twiml(twilio.post(sms_redirect.text, params))) == ["Hangup"]


# --- test callers ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_test_caller_hears_the_draft_everyone_else_the_live_release(live_demo, twilio):
    TestCaller.objects.create(number=TESTER, name="Dana's mobile")
    edit_greeting("Draft greeting.")
    assert said(call(twilio))[0] == GREETING
    tester = call(twilio, caller=TESTER, sid="CA2")
    assert said(tester)[0] == "Draft greeting."
    action = tester.find("Gather").get("action")
    assert action.startswith("/twilio/releases/draft/")
    assert verbs(parse_twiml(twilio.post(action, {"Digits": "2"}))) == ["Say", "Record"]


@pytest.mark.django_db
def test_a_test_caller_texts_the_drafts_rules(live_demo, twilio):
    TestCaller.objects.create(number=TESTER)
    SmsRule.objects.filter(keyword="HOURS").update(reply="Draft hours.")
    flowcache.invalidate()

    def reply(sender, sid):
        root = parse_twiml(
            twilio.post(
                "/twilio/sms/", {"MessageSid": sid, "From": sender, "To": DEMO, "Body": "hours"}
            )
        )
        return root.find("Message").text

    assert reply(TESTER, "SM" + "1" * 32) == "Draft hours."
    assert reply(CALLER, "SM" + "2" * 32) != "Draft hours."


# --- faults ---------------------------------------------------------------------------------


def _down(execute, sql, params, many, context):
    from django.db import OperationalError

    raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.django_db
def test_a_warm_worker_answers_from_its_live_release_after_a_draft_edit_while_the_database_is_away(
    live_demo, twilio, settings, monkeypatch
):
    now = [1000.0]
    monkeypatch.setattr(flowcache.time, "monotonic", lambda: now[0])
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 1
    call(twilio)
    edit_greeting("Unpublished.")  # empties the draft's store (test callers included)
    now[0] += 5
    with connection.execute_wrapper(_down):
        assert said(call(twilio, sid="CA2"))[0] == GREETING
        assert said(call(twilio, caller=TESTER, sid="CA3"))[0] == GREETING


# --- the upgrade ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_publishes_existing_data_as_release_1(twilio):
    executor = MigrationExecutor(connection)
    before, after = [("telephony", "0006_broadcasts")], [("telephony", "0007_releases")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    flow = old.get_model("telephony", "CallFlow").objects.create(name="Main", slug="main")
    old.get_model("telephony", "Step").objects.create(flow=flow, position=3, verb="say", text="Hi.")
    old.get_model("telephony", "PhoneNumber").objects.create(number=DEMO, call_flow=flow)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
    release = Release.objects.get()
    assert (release.number, FlowsVersion.current()[1]) == (1, 1)
    step = next(o for o in json.loads(release.fixture) if o["model"] == "telephony.step")
    assert step["fields"]["flow"] == ["main"] and step["fields"]["position"] == 1
    flowcache.clear()
    assert said(call(twilio)) == ["Hi."]  # it keeps answering


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_of_an_empty_database_publishes_nothing():
    executor = MigrationExecutor(connection)
    executor.migrate([("telephony", "0006_broadcasts")])
    try:
        MigrationExecutor(connection).migrate([("telephony", "0007_releases")])
        assert not Release.objects.exists()
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
