"""The call log page's journey (its timeline, in staff words) and the changelist filters on
what callers did, each answered from an index."""

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.db import connection

from telephony.admin.journeys import JourneyFilter, PressedFilter
from telephony.admin.logs import CallLogAdmin
from telephony.models import CallEvent, CallLog, CallOutcome
from tests.factories import step_path
from tests.test_journeys import CALL, DEMO, ended, gather, post, recording_callback, ring

pytestmark = pytest.mark.django_db

Kind = CallEvent.Kind
LIST = "/admin/telephony/calllog/"


def timeline_of(page: str) -> list[str]:
    """The journey's lines as a reader sees them: time, then words."""
    block = re.search(r'<ol class="journey">(.*?)</ol>', page, re.S).group(1)
    lines = re.findall(r'<li class="journey-[a-z_]+"><time>(.*?)</time>(.*?)</li>', block, re.S)
    return [f"{at} {unescape(text)}" for at, text in lines]


def test_the_call_log_page_tells_the_journey_in_staff_words(live_demo, twilio, admin_client):
    ring(twilio)
    gather(twilio, {"Digits": "1"})
    post(twilio, step_path("sales", "dial", "dial"), {"DialCallStatus": "no-answer"})
    recording_callback(twilio, duration="34")
    post(twilio, step_path("voicemail", "record", "record"), {"RecordingDuration": "34"})
    ended(twilio, duration="65")
    CallEvent.objects.update(at=datetime(2026, 12, 1, 10, 2, 3, tzinfo=UTC))
    log = CallLog.objects.get(sid=CALL)
    page = admin_client.get(f"{LIST}{log.pk}/change/").content.decode()
    lines = timeline_of(page)
    assert lines[:2] == [
        f"10:02:03 call from +14155551234 to {DEMO} -> Main menu (release 1)",
        '10:02:03 Main menu: played "Thank you for calling the Switchboard demo."',
    ]
    # The schedule's reason is in the schedule's own words (its range's label).
    assert lines[2].startswith("10:02:03 Main menu: open (Office hours")
    assert lines[3] == (
        '10:02:03 Main menu: asked "For sales, press 1. To leave a voicemail, press 2. To get o…"'
    )
    assert lines[4:] == [
        "10:02:03 Main menu: pressed 1 -> Sales",
        '10:02:03 Sales: played "Connecting you to our sales team."',
        "10:02:03 Sales: rang +14155550100, +14155550101",
        "10:02:03 Sales: rang +14155550100, +14155550101 (no answer, 20 s)",
        "10:02:03 entered Voicemail",
        '10:02:03 Voicemail: played "Please leave a message after the beep. Press the pound key…"',
        "10:02:03 Voicemail: recording a message",
        "10:02:03 Voicemail: left a voicemail (34 s) in Front desk",
        "10:02:03 entered Voicemail thanks",
        '10:02:03 Voicemail thanks: played "Thank you for your message. Goodbye."',
        "10:02:03 Voicemail thanks: hung up",
        "10:02:03 call ended after 1 min 5 s",
    ]
    assert "Left a voicemail" in page  # the outcome, in words
    assert "telephony/journey.css" in page
    assert " style=" not in page.split('<ol class="journey">')[1].split("</ol>")[0]


def test_what_a_document_said_on_the_way_is_styled_as_heard_and_its_end_as_such(
    live_demo, twilio, admin_client
):
    post(twilio, step_path("voicemail", "record", "record"), {"RecordingDuration": "0"})
    ring(twilio)  # the log row, for the page
    log = CallLog.objects.get(sid=CALL)
    page = admin_client.get(f"{LIST}{log.pk}/change/").content.decode()
    styled = re.findall(r'<li class="journey-([a-z_]+)"><time>.*?</time>(.*?)</li>', page, re.S)
    # The thank-you flow: one event (a prompt, then the hang-up), two lines, each its own.
    lines = [(kind, unescape(text)) for kind, text in styled]
    played = ("prompt", 'Voicemail thanks: played "Thank you for your message. Goodbye."')
    assert lines[lines.index(played) + 1] == ("hung_up", "Voicemail thanks: hung up")


def test_a_call_without_events_says_so(db, admin_client):
    log = CallLog.objects.create(sid="CA1", direction="inbound")
    page = admin_client.get(f"{LIST}{log.pk}/change/").content.decode()
    assert '<ol class="journey">' not in page


def test_a_hang_up_in_the_menu_reads_as_such(live_demo, twilio, admin_client):
    ring(twilio)
    ended(twilio, duration="4")
    log = CallLog.objects.get(sid=CALL)
    lines = timeline_of(admin_client.get(f"{LIST}{log.pk}/change/").content.decode())
    assert [line[9:] for line in lines[-2:]] == [
        "Main menu: caller hung up in the menu",
        "call ended after 4 s",
    ]


# --- filters -----------------------------------------------------------------------------------


@pytest.fixture
def calls(live_demo, twilio):
    """CA…1 pressed 1 and reached nobody, CA…2 pressed 2 and left a voicemail, CA…3 hung
    up in the menu."""
    sids = [f"CA{i:032d}" for i in (1, 2, 3)]
    for sid in sids:
        ring(twilio, call=sid)
    gather(twilio, {"Digits": "1"}, call=sids[0])
    post(twilio, step_path("sales", "dial", "dial"), {"DialCallStatus": "busy"}, call=sids[0])
    gather(twilio, {"Digits": "2"}, call=sids[1])
    CallEvent.objects.create(call_sid=sids[1], at=CallEvent.objects.first().at, kind=Kind.VOICEMAIL)
    ended(twilio, call=sids[2])
    return sids


def listed(admin_client, **params) -> set[str]:
    page = admin_client.get(LIST, params).content.decode()
    return set(re.findall(r"CA\d{32}", page))


def test_filters_on_what_callers_did(calls, admin_client):
    one, two, three = calls
    assert listed(admin_client) == {one, two, three}
    assert listed(admin_client, pressed="1") == {one}
    assert listed(admin_client, pressed="2") == {two}
    assert listed(admin_client, pressed="7") == set()
    assert listed(admin_client, journey="voicemail") == {two}
    assert listed(admin_client, journey="abandoned") == {three}
    assert listed(admin_client, outcome=CallOutcome.ABANDONED) == {three}
    assert listed(admin_client, outcome=CallOutcome.MISSED) == {one}
    page = admin_client.get(LIST).content.decode()
    for words in ("pressed 2", "reached voicemail", "abandoned in the menu", "Hung up in the menu"):
        assert words in page


def test_an_unknown_filter_value_is_no_error(calls, admin_client):
    response = admin_client.get(LIST, {"pressed": "'; DROP TABLE x"})
    assert response.status_code == 200
    assert set(re.findall(r"CA\d{32}", response.content.decode())) == set(calls)


def plan(queryset) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: make it choose
            return queryset.explain()
    return queryset.explain()


@pytest.mark.parametrize(
    ("chosen", "index"),
    [
        ((PressedFilter, "pressed", "2"), "telephony_callevent_pressed"),
        ((JourneyFilter, "journey", "voicemail"), "telephony_callevent_kind_at"),
        ((JourneyFilter, "journey", "abandoned"), "telephony_calllog_outcome"),
    ],
)
def test_each_filter_reads_an_index(calls, rf, chosen, index):
    filter_class, name, value = chosen
    request = rf.get(LIST, {name: value})
    params = {name: [value]}
    found = filter_class(request, params, CallLog, CallLogAdmin).queryset(
        request, CallLog.objects.order_by("-created_at")
    )
    assert index in plan(found)
