"""Schedules and the Hours step: decisions at fixed times (DST changes, overnight ranges,
holidays, closed dates, special days), the step in calls and the simulator, releases
(snapshot, diff, reset), the flow checks, and the admin page."""

import datetime as dt
import json
import re
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from telephony.flows import cache as flowcache
from telephony.flows import loading
from telephony.flows import schedules as decide
from telephony.flows.fixtures import draft_fixture
from telephony.flows.schedules import ScheduleData, is_open, next_changes, upcoming_closures
from telephony.models import (
    CallFlow,
    ClosedDate,
    FlowsVersion,
    OpenRange,
    Schedule,
    SpecialDay,
    Step,
)
from telephony.releases import drafts, publishing
from telephony.releases.changes import describe, describe_draft
from telephony.tools import flow_checks
from telephony.tools.simulator import CallSimulator
from tests.conftest import parse_twiml, verbs
from tests.factories import make_flow, make_number, publish
from tests.test_csp import inline_code

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
SYDNEY = ZoneInfo("Australia/Sydney")
T = dt.time
DEMO = "+15005550006"
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def hours(*ranges):
    return tuple(SimpleNamespace(weekday=d, opens=o, closes=c) for d, o, c in ranges)


NINE, FIVE = T(9), T(17)


def weekdays(opens=NINE, closes=FIVE):
    return hours(*[(day, opens, closes) for day in range(5)])


def office(zone="America/New_York", country="US", subdivision="", ranges=None, **rows):
    return ScheduleData(
        name="Office hours",
        time_zone=zone,
        holiday_country=country,
        holiday_subdivision=subdivision,
        ranges=weekdays() if ranges is None else ranges,
        closures=tuple(SimpleNamespace(**row) for row in rows.get("closures", ())),
        special_days=tuple(SimpleNamespace(**row) for row in rows.get("special_days", ())),
    )


def elapsed(changes) -> dt.timedelta:
    """Real time between two changes (aware datetimes in one zone subtract as wall times)."""
    return changes[1].at.astimezone(dt.UTC) - changes[0].at.astimezone(dt.UTC)


def at(*args, zone=NY):
    return dt.datetime(*args, tzinfo=zone)


# --- decisions ------------------------------------------------------------------------------


def test_weekly_hours_decide_with_the_range_or_the_reason():
    schedule = office(country="")
    assert is_open(schedule, at(2026, 12, 23, 10)) == (True, "Wednesday 09:00-17:00")
    assert is_open(schedule, at(2026, 12, 23, 8, 59)) == (False, "outside opening hours")
    assert is_open(schedule, at(2026, 12, 23, 17)) == (False, "outside opening hours")
    assert is_open(schedule, at(2026, 12, 26, 12)).open is False  # Saturday
    # Any time zone: 15:00 UTC is 10:00 in New York.
    assert is_open(schedule, dt.datetime(2026, 12, 23, 15, tzinfo=dt.UTC)).open is True
    # Naive: read on the schedule's own clock.
    assert is_open(schedule, dt.datetime(2026, 12, 23, 10)).open is True


def test_several_ranges_a_day():
    schedule = office(country="", ranges=hours((MON, T(9), T(12)), (MON, T(13), T(17))))
    assert is_open(schedule, at(2026, 12, 21, 11)) == (True, "Monday 09:00-12:00")
    assert is_open(schedule, at(2026, 12, 21, 12, 30)).open is False
    assert is_open(schedule, at(2026, 12, 21, 13)) == (True, "Monday 13:00-17:00")
    changes = next_changes(schedule, at(2026, 12, 21, 8), 4)
    assert [(c.at.hour, c.open) for c in changes] == [
        (9, True),
        (12, False),
        (13, True),
        (17, False),
    ]


def test_an_overnight_range_runs_past_midnight():
    schedule = office(country="", ranges=hours((FRI, T(22), T(6))))
    assert is_open(schedule, at(2026, 12, 18, 23)) == (True, "Friday 22:00-06:00")
    assert is_open(schedule, at(2026, 12, 19, 5, 59)) == (True, "Friday 22:00-06:00")
    assert is_open(schedule, at(2026, 12, 19, 6)).open is False
    assert is_open(schedule, at(2026, 12, 18, 21)).open is False
    change = next_changes(schedule, at(2026, 12, 18, 23), 1)[0]
    assert (change.at, change.open) == (at(2026, 12, 19, 6), False)


def test_all_day_and_back_to_back_days_are_one_open_period():
    schedule = office(country="", ranges=hours((MON, T(0), T(0)), (TUE, T(0), T(0))))
    assert is_open(schedule, at(2026, 12, 21, 0)).open
    assert is_open(schedule, at(2026, 12, 22, 23, 59)).open
    changes = next_changes(schedule, at(2026, 12, 21, 12), 2)
    assert [(c.at, c.open) for c in changes] == [
        (at(2026, 12, 23, 0), False),
        (at(2026, 12, 28, 0), True),
    ]


def test_a_closed_date_cuts_an_overnight_range_at_midnight():
    schedule = office(
        country="",
        ranges=hours((THU, T(22), T(6)), (FRI, T(22), T(6))),
        closures=[{"starts": dt.date(2026, 12, 25), "ends": None, "label": "Office party"}],
    )
    assert is_open(schedule, at(2026, 12, 24, 23)).open  # Thursday night
    assert is_open(schedule, at(2026, 12, 25, 1)) == (False, "Office party")
    assert is_open(schedule, at(2026, 12, 25, 23)) == (False, "Office party")  # Friday's range
    assert is_open(schedule, at(2026, 12, 26, 1)).open is False  # never opened on the 25th
    change = next_changes(schedule, at(2026, 12, 24, 23), 1)[0]
    assert (change.at, change.open, change.reason) == (at(2026, 12, 25, 0), False, "Office party")


def test_a_closed_date_range_with_its_label():
    schedule = office(
        country="",
        closures=[
            {
                "starts": dt.date(2026, 12, 24),
                "ends": dt.date(2027, 1, 1),
                "label": "Winter break",
            }
        ],
    )
    assert is_open(schedule, at(2026, 12, 28, 10)) == (False, "Winter break")
    assert is_open(schedule, at(2027, 1, 4, 10)).open
    assert upcoming_closures(schedule, at(2026, 12, 1, 10))[0] == (
        dt.date(2026, 12, 24),
        dt.date(2027, 1, 1),
        "Winter break",
    )


def test_public_holidays_of_a_country_and_a_subdivision():
    us = office()
    assert is_open(us, at(2026, 12, 25, 10)) == (False, "Christmas Day (US holiday)")
    assert is_open(us, at(2026, 7, 3, 10)) == (False, "Independence Day (observed) (US holiday)")
    # Cesar Chavez Day (31 March) is California's own.
    assert is_open(us, at(2026, 3, 31, 10, zone=LA)).open
    california = office(zone="America/Los_Angeles", subdivision="CA")
    assert is_open(california, at(2026, 3, 31, 10, zone=LA)) == (
        False,
        "Cesar Chavez Day (US-CA holiday)",
    )
    # The holiday is midnight to midnight in the schedule's zone.
    assert is_open(us, dt.datetime(2026, 12, 25, 4, tzinfo=dt.UTC)).open is False
    closures = upcoming_closures(us, at(2026, 12, 23, 10), 3)
    assert [c.reason for c in closures] == [
        "Christmas Day (US holiday)",
        "New Year's Day (US holiday)",
        "Martin Luther King Jr. Day (US holiday)",
    ]


def test_special_days_override_holidays_and_open_extra_days():
    schedule = office(
        special_days=[
            # Open on Christmas after all, with other hours.
            {
                "date": dt.date(2026, 12, 25),
                "opens": T(10),
                "closes": T(14),
                "label": "Skeleton crew",
            },
            # Columbus Day: the usual hours.
            {"date": dt.date(2026, 10, 12), "opens": None, "closes": None, "label": "We work"},
            # An extra Saturday.
            {
                "date": dt.date(2026, 12, 19),
                "opens": T(10),
                "closes": T(12),
                "label": "Stock-taking",
            },
        ],
        closures=[{"starts": dt.date(2026, 10, 12), "ends": None, "label": "Ignored"}],
    )
    assert is_open(schedule, at(2026, 12, 25, 11)) == (True, "Skeleton crew 10:00-14:00")
    assert is_open(schedule, at(2026, 12, 25, 9, 30)) == (False, "Skeleton crew: outside its hours")
    assert is_open(schedule, at(2026, 10, 12, 9)) == (True, "We work: usual hours 09:00-17:00")
    assert is_open(schedule, at(2026, 12, 19, 11)) == (True, "Stock-taking 10:00-12:00")
    assert dt.date(2026, 12, 25) not in [
        c.starts for c in upcoming_closures(schedule, at(2026, 12, 1))
    ]


def test_spring_forward_in_new_york():
    # 2026-03-08: the clocks go from 02:00 EST straight to 03:00 EDT.
    schedule = office(country="", ranges=hours((SUN, T(1), T(4)), (SUN, T(2, 30), T(2, 45))))
    assert is_open(schedule, at(2026, 3, 8, 1, 59)).open
    assert is_open(schedule, dt.datetime(2026, 3, 8, 7, 0, tzinfo=dt.UTC)).open  # 03:00 EDT
    changes = next_changes(schedule, at(2026, 3, 8, 0), 2)
    # 01:00-04:00 lasts two hours that night.
    assert [c.at.astimezone(dt.UTC).hour for c in changes] == [6, 8]
    # A range inside the skipped hour opens and closes at the jump: never open.
    gap = office(country="", ranges=hours((SUN, T(2, 30), T(2, 45))))
    assert next_changes(gap, at(2026, 3, 8, 0), 1)[0].at.date() == dt.date(2026, 3, 15)
    # One that opens in it opens when the clocks jump.
    late = office(country="", ranges=hours((SUN, T(2, 30), T(5))))
    first = next_changes(late, at(2026, 3, 8, 0), 1)[0]
    assert (first.at.hour, first.at.minute, first.at.tzname()) == (3, 0, "EDT")


def test_fall_back_in_new_york():
    # 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
    schedule = office(country="", ranges=hours((SUN, T(0), T(1, 30)), (SUN, T(1), T(4))))
    long_night = office(country="", ranges=hours((SUN, T(1), T(4))))
    changes = next_changes(long_night, at(2026, 11, 1, 0), 2)
    assert elapsed(changes) == dt.timedelta(hours=4)
    short = office(country="", ranges=hours((SUN, T(0), T(1, 30))))
    first_pass = dt.datetime(2026, 11, 1, 5, 15, tzinfo=dt.UTC)  # 01:15 EDT
    second_pass = dt.datetime(2026, 11, 1, 6, 15, tzinfo=dt.UTC)  # 01:15 EST
    assert is_open(short, first_pass).open
    assert is_open(short, second_pass).open is False  # it closed at the first 01:30
    assert is_open(schedule, second_pass).open  # the 01:00-04:00 range still runs


def test_dst_in_los_angeles_and_sydney():
    la = office(zone="America/Los_Angeles", country="", ranges=hours((SUN, T(1), T(3))))
    spring = next_changes(la, at(2026, 3, 8, 0, zone=LA), 2)
    assert elapsed(spring) == dt.timedelta(hours=1)  # 02:00-03:00 never happens
    # Sydney: summer time ends 2026-04-05 (03:00 -> 02:00) and begins 2026-10-04 (02:00 -> 03:00).
    sydney = office(zone="Australia/Sydney", country="", ranges=hours((SUN, T(1), T(4))))
    autumn = next_changes(sydney, at(2026, 4, 5, 0, zone=SYDNEY), 2)
    assert elapsed(autumn) == dt.timedelta(hours=4)
    spring = next_changes(sydney, at(2026, 10, 4, 0, zone=SYDNEY), 2)
    assert elapsed(spring) == dt.timedelta(hours=2)
    assert spring[0].at.tzinfo == SYDNEY


def test_without_a_time_zone_the_line_is_closed():
    schedule = office(zone="")
    assert is_open(schedule, at(2026, 12, 23, 10)) == (False, decide.NO_TIME_ZONE)
    assert next_changes(schedule, at(2026, 12, 23, 10)) == []
    assert decide.never_open(schedule, at(2026, 12, 23, 10))
    assert not decide.never_open(office(), at(2026, 12, 23, 10))
    assert decide.never_open(office(ranges=()), at(2026, 12, 23, 10))


# --- the models -----------------------------------------------------------------------------


def make_schedule(name="Office hours", zone="America/New_York", country="US", ranges=None):
    schedule = Schedule.objects.create(name=name, time_zone=zone, holiday_country=country)
    for weekday, opens, closes in (
        ranges if ranges is not None else [(d, T(9), T(17)) for d in range(5)]
    ):
        OpenRange.objects.create(schedule=schedule, weekday=weekday, opens=opens, closes=closes)
    return schedule


@pytest.mark.django_db
def test_schedule_validation_says_what_to_fix():
    schedule = Schedule(name="X", time_zone="Mars/Olympus", holiday_country="ZZ")
    with pytest.raises(ValidationError) as error:
        schedule.full_clean()
    assert "not a time zone name" in str(error.value.message_dict["time_zone"])
    assert "knows no country 'ZZ'" in str(error.value.message_dict["holiday_country"])
    schedule = Schedule(name="X", time_zone="America/Los_Angeles", holiday_country="us-ca")
    schedule.full_clean()
    assert (schedule.holiday_country, schedule.holiday_subdivision) == ("US", "CA")
    assert schedule.holiday_region == "US-CA"
    schedule = Schedule(name="X", time_zone="UTC", holiday_country="US", holiday_subdivision="QQ")
    with pytest.raises(ValidationError, match="no subdivision 'QQ'"):
        schedule.full_clean()
    with pytest.raises(ValidationError, match="Choose the time zone"):
        Schedule(name="Y", time_zone="").full_clean()


@pytest.mark.django_db
def test_rows_validate_and_the_hours_step_needs_a_schedule_and_a_branch():
    schedule = make_schedule()
    with pytest.raises(ValidationError, match="or neither"):
        SpecialDay(schedule=schedule, date=dt.date(2026, 1, 1), opens=T(9), label="x").full_clean()
    with pytest.raises(ValidationError, match="must not be before"):
        ClosedDate(
            schedule=schedule, starts=dt.date(2026, 2, 2), ends=dt.date(2026, 2, 1), label="x"
        ).full_clean()
    flow = make_flow("f")
    step = Step(flow=flow, position=1, verb="hours")
    with pytest.raises(ValidationError) as error:
        step.full_clean()
    assert set(error.value.message_dict) == {"schedule", "next_flow"}
    Step(flow=flow, position=1, verb="hours", schedule=schedule, next_flow=flow).full_clean()


# --- the Hours step in calls ------------------------------------------------------------------


def freeze(settings, when: str):
    settings.TELEPHONY_NOW = when


def voice(twilio, sid="CA1"):
    return parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "CallSid": sid}))


@pytest.mark.django_db
def test_the_demo_menu_while_open_and_while_closed(live_demo, twilio, settings):
    freeze(settings, "2026-12-23T10:00-08:00")  # Wednesday morning in Los Angeles
    root = voice(twilio)
    assert verbs(root) == ["Say", "Gather"]  # the menu, as ever
    freeze(settings, "2026-12-23T20:00-08:00")  # the evening
    root = voice(twilio, "CA2")
    assert verbs(root) == ["Say", "Redirect"]
    assert root.find("Redirect").text == "/twilio/releases/1/flows/closed/"
    closed = parse_twiml(twilio.post(root.find("Redirect").text, {"CallSid": "CA2"}))
    assert "We are closed" in closed.find("Say").text
    assert closed.find("Redirect").text == "/twilio/releases/1/flows/voicemail/"
    freeze(settings, "2026-12-25T10:00-08:00")  # Christmas Day
    assert verbs(voice(twilio, "CA3")) == ["Say", "Redirect"]


@pytest.mark.django_db
def test_branches_to_flows_or_the_steps_after(twilio, settings):
    schedule = make_schedule()
    opened = make_flow("opened", steps=[{"verb": "say", "text": "Open."}])
    flow = make_flow(
        "line",
        steps=[
            {"verb": "hours", "schedule": schedule, "open_flow": opened},
            {"verb": "say", "text": "Closed, sorry."},
        ],
    )
    make_number("+14155550111", flow)
    publish()
    freeze(settings, "2026-12-23T10:00-05:00")
    path = "/twilio/releases/1/flows/line/"
    root = parse_twiml(twilio.post(path, {}))
    assert verbs(root) == ["Redirect"]
    assert root.find("Redirect").text == "/twilio/releases/1/flows/opened/"
    freeze(settings, "2026-12-23T18:00-05:00")
    assert [s.text for s in parse_twiml(twilio.post(path, {})).iter("Say")] == ["Closed, sorry."]


@pytest.mark.django_db
def test_a_warm_hours_call_costs_no_query(live_demo, twilio, settings, django_assert_num_queries):
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 3600
    path = "/twilio/releases/1/flows/main-menu/"
    flowcache.clear()
    freeze(settings, "2026-12-23T10:00-08:00")
    parse_twiml(twilio.post(path, {}))  # the worker reads release 1 once
    with django_assert_num_queries(0):
        assert "Gather" in verbs(parse_twiml(twilio.post(path, {})))
    freeze(settings, "2026-12-23T20:00-08:00")  # the other decision: rendered from memory
    with django_assert_num_queries(0):
        assert verbs(parse_twiml(twilio.post(path, {}))) == ["Say", "Redirect"]
    with django_assert_num_queries(0):
        assert verbs(parse_twiml(twilio.post(path, {}))) == ["Say", "Redirect"]
    # The voice webhook: only the call's log row and its events (each SAVEPOINT, INSERT,
    # RELEASE: tests/test_performance_queries).
    voice(twilio, "CA9")
    with django_assert_num_queries(6):
        assert verbs(voice(twilio, "CA10")) == ["Say", "Redirect"]


@pytest.mark.django_db
def test_a_call_keeps_its_release_schedule(live_demo, twilio, settings):
    freeze(settings, "2026-12-23T18:00-08:00")  # closed at 17:00 in release 1
    schedule = Schedule.objects.get(name="Office hours")
    schedule.ranges.update(closes=T(19))
    flowcache.invalidate()
    assert (
        verbs(parse_twiml(twilio.post("/twilio/releases/draft/flows/main-menu/", {})))[1]
        == "Gather"
    )
    assert verbs(voice(twilio)) == ["Say", "Redirect"]  # the live release: still 17:00
    publish("Open until seven.")
    assert "Gather" in verbs(voice(twilio, "CA2"))
    assert verbs(parse_twiml(twilio.post("/twilio/releases/1/flows/main-menu/", {}))) == [
        "Say",
        "Redirect",
    ]


# --- the simulator --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_simulator_says_what_the_hours_step_decided(live_demo):
    christmas = CallSimulator(at="2026-12-25T10:00-08:00").run_number(DEMO)
    assert "Closed (Office hours: Christmas Day (US holiday)): going to flow 'closed'" in [
        line.text for line in christmas.lines
    ]
    assert 'Says: "Please leave a message after the beep.' in christmas.text
    assert christmas.lines[0].text.endswith("at 2026-12-25T10:00:00-08:00)")
    open_ = CallSimulator(at=dt.datetime(2026, 12, 23, 10)).run_number(DEMO)  # 10:00 there
    assert (
        "Open now (Office hours: Wednesday 09:00-17:00): going on with the steps after it"
        in open_.text
    )
    assert "Waits 5 s for 1 key or speech" in open_.text


@pytest.mark.django_db
def test_simulate_call_at(live_demo, capsys):
    call_command("simulate_call", number=DEMO, at="2026-12-23T20:00-08:00", digits=[""])
    out = capsys.readouterr().out
    assert "Closed (Office hours: outside opening hours): going to flow 'closed'" in out
    assert "We are closed right now" in out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="not a date and time"):
        call_command("simulate_call", number=DEMO, at="at teatime")


# --- releases -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_release_holds_the_schedules_and_old_releases_still_read(demo):
    number = publish()
    snapshot = loading.snapshot(str(number))
    office_hours = snapshot.schedules["Office hours"]
    assert office_hours.time_zone == "America/Los_Angeles"
    assert len(office_hours.ranges) == 5
    assert is_open(office_hours, at(2026, 12, 25, 10, zone=LA)).reason == (
        "Christmas Day (US holiday)"
    )
    step = snapshot.flow("main-menu").step_at(2)
    assert (step.verb, step.schedule.name, step.next_flow.slug) == (
        "hours",
        "Office hours",
        "closed",
    )
    # A release from before schedules: no schedule objects at all.
    old = [o for o in json.loads(draft_fixture()) if not o["model"].startswith("telephony.s")]
    from telephony.flows.fixtures import read_snapshot

    assert read_snapshot(json.dumps(old), "9").schedules == {}


@pytest.mark.django_db
def test_schedule_changes_in_words(live_demo):
    schedule = Schedule.objects.get(name="Office hours")
    schedule.ranges.filter(weekday=MON).update(closes=T(18))
    OpenRange.objects.create(schedule=schedule, weekday=SAT, opens=T(10), closes=T(12))
    schedule.ranges.filter(weekday=FRI).delete()
    schedule.time_zone = "America/New_York"
    schedule.save()
    ClosedDate.objects.create(
        schedule=schedule, starts=dt.date(2026, 12, 24), ends=dt.date(2027, 1, 1), label="Break"
    )
    SpecialDay.objects.create(
        schedule=schedule, date=dt.date(2026, 12, 19), opens=T(10), closes=T(14), label="Extra"
    )
    Step.objects.filter(flow__slug="main-menu", verb="hours").update(
        open_flow=CallFlow.objects.get(slug="sales")
    )
    assert describe_draft() == [
        'Flow "Main menu": step 2 (Hours) if open (blank) -> "Sales"',
        'Schedule "Office hours": time zone "America/Los_Angeles" -> "America/New_York"',
        'Schedule "Office hours": Monday 09:00-17:00 -> 09:00-18:00',
        'Schedule "Office hours": Friday 09:00-17:00 -> (closed)',
        'Schedule "Office hours": Saturday (closed) -> 10:00-12:00',
        'Schedule "Office hours": closed 2026-12-24 to 2027-01-01 added: "Break"',
        'Schedule "Office hours": special day 2026-12-19 added: 10:00-14:00 "Extra"',
    ]
    release = publishing.live_release()
    assert describe(draft_fixture(), release.fixture)[-1] == (
        'Schedule "Office hours": special day 2026-12-19 removed (10:00-14:00 "Extra")'
    )


def test_an_added_hours_step_and_schedule_in_words():
    step = {
        "model": "telephony.step",
        "fields": {"flow": ["f"], "position": 1, "verb": "hours", "schedule": ["Night"]},
    }
    flow = {"model": "telephony.callflow", "fields": {"slug": "f", "name": "F"}}
    schedule = {
        "model": "telephony.schedule",
        "fields": {"name": "Night", "time_zone": "Europe/London", "holiday_country": "GB"},
    }
    old = json.dumps([flow])
    new = json.dumps([flow, step, schedule])
    assert describe(old, new) == [
        'Flow "F": step 1 (Hours) added: schedule "Night", open -> the steps after it, '
        "closed -> the steps after it",
        'Schedule "Night" added (Europe/London, GB holidays; no weekly ranges, no closed dates)',
    ]
    assert describe(new, old)[-1] == 'Schedule "Night" removed'


@pytest.mark.django_db
def test_discarding_the_draft_brings_the_schedules_back(live_demo):
    schedule = Schedule.objects.get(name="Office hours")
    schedule.ranges.filter(weekday=MON).delete()
    ClosedDate.objects.create(schedule=schedule, starts=dt.date(2026, 12, 24), label="Eve")
    Schedule.objects.create(name="Night line", time_zone="UTC")
    assert describe_draft()
    drafts.discard_changes()
    assert describe_draft() == []
    assert list(Schedule.objects.values_list("name", flat=True)) == ["Office hours"]
    assert schedule.ranges.count() == 5 and not schedule.closures.exists()
    # A schedule deleted from the draft comes back, and its step points at it again.
    schedule.delete()
    assert Step.objects.get(flow__slug="main-menu", verb="hours").schedule is None
    drafts.discard_changes()
    assert Step.objects.get(flow__slug="main-menu", verb="hours").schedule.name == "Office hours"


@pytest.mark.django_db
def test_editing_a_schedule_bumps_the_draft_counter(demo):
    before = FlowsVersion.current()[0]
    schedule = Schedule.objects.get(name="Office hours")
    OpenRange.objects.create(schedule=schedule, weekday=SAT, opens=T(10), closes=T(12))
    middle = FlowsVersion.current()[0]
    assert middle > before
    SpecialDay.objects.create(schedule=schedule, date=dt.date(2026, 5, 5), label="x")
    assert FlowsVersion.current()[0] > middle


# --- checks ---------------------------------------------------------------------------------


def messages(findings):
    return [(f.severity, f.where, f.message.split(":")[0]) for f in findings]


@pytest.mark.django_db
def test_checks_find_schedules_that_never_open_or_have_no_time_zone():
    never = make_schedule("Never", ranges=[])
    nowhere = make_schedule("Nowhere")
    Schedule.objects.filter(pk=nowhere.pk).update(time_zone="")
    found = messages(flow_checks.find_problems())
    assert (
        "error",
        "schedule 'Never'",
        "This schedule is never open in the next year (no weekly hours, or every day closed)",
    ) in found
    assert ("error", "schedule 'Nowhere'", "This schedule has no time zone") in found
    never.ranges.create(weekday=MON, opens=T(9), closes=T(10))
    assert not [f for f in flow_checks.find_problems() if f.schedule == "Never"]


@pytest.mark.django_db
def test_checks_find_hours_steps_without_schedule_or_with_a_branch_to_nowhere():
    schedule = make_schedule()
    target = make_flow("target", steps=[{"verb": "say", "text": "Hi"}])
    make_flow("a", steps=[{"verb": "hours", "schedule": schedule, "open_flow": target}])
    make_flow("b", steps=[{"verb": "hours", "next_flow": target}, {"verb": "hangup"}])
    make_flow(
        "c",
        steps=[{"verb": "hours", "schedule": schedule, "open_flow": target, "next_flow": target}],
    )
    errors = [f for f in flow_checks.find_problems() if f.severity == "error"]
    assert [(f.flow, f.step, f.message.split(",")[0]) for f in errors] == [
        ("a", 1, "While closed"),
        (
            "b",
            1,
            "This Hours step has no schedule (it was deleted?): callers always count as closed. Choose a schedule.",
        ),
    ]
    with pytest.raises(publishing.PublishBlocked):
        publish()


# --- the admin ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_schedule_page_shows_the_week_now_and_the_next_closures(demo, admin_client, settings):
    freeze(settings, "2026-12-23T16:00-08:00")
    schedule = Schedule.objects.get(name="Office hours")
    ClosedDate.objects.create(schedule=schedule, starts=dt.date(2026, 12, 24), label="Eve")
    page = admin_client.get(f"/admin/telephony/schedule/{schedule.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert inline_code(html) == []  # the admin's Content-Security-Policy
    week = re.search(r'<table class="schedule-week">.*?</table>', html, re.S).group(0)
    monday = re.search(r"<tr><th scope=\"row\">Monday</th>(.*?)</tr>", week, re.S).group(1)
    cells = re.findall(r'<td class="(schedule-open|schedule-closed)"', monday)
    assert cells == ["schedule-closed"] * 9 + ["schedule-open"] * 8 + ["schedule-closed"] * 7
    assert "09:00-17:00" in monday
    assert "Saturday</th>" + '<td class="schedule-closed"' in week.replace("\n", "")
    text = re.sub(r"<[^>]+>", "", html)
    assert (
        "Open now (Wednesday 09:00-17:00); closes Wednesday 23 December 2026 at 17:00 (PST)."
        in text
    )
    closures = re.search(r'<ul class="schedule-closures">(.*?)</ul>', html, re.S).group(1)
    items = re.findall(r"<li>(.*?)</li>", closures)
    assert items[:3] == [
        "Thu 24 Dec 2026: Eve",
        "Fri 25 Dec 2026: Christmas Day (US holiday)",
        "Fri 01 Jan 2027: New Year&#x27;s Day (US holiday)",
    ]
    assert len(items) == 10
    listing = admin_client.get("/admin/telephony/schedule/").content.decode()
    assert "Open (Wednesday 09:00-17:00)" in listing


@pytest.mark.django_db
def test_staff_build_a_schedule_and_an_hours_step_in_the_admin(db, admin_client):
    response = admin_client.post(
        "/admin/telephony/schedule/add/",
        {
            "name": "Support",
            "time_zone": "Europe/London",
            "holiday_country": "GB-ENG",
            "holiday_subdivision": "",
            "ranges-TOTAL_FORMS": "1",
            "ranges-INITIAL_FORMS": "0",
            "ranges-0-weekday": "0",
            "ranges-0-opens": "22:00",
            "ranges-0-closes": "06:00",
            "closures-TOTAL_FORMS": "0",
            "closures-INITIAL_FORMS": "0",
            "special_days-TOTAL_FORMS": "0",
            "special_days-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    schedule = Schedule.objects.get(name="Support")
    assert (schedule.holiday_country, schedule.holiday_subdivision) == ("GB", "ENG")
    assert str(schedule.ranges.get()) == "Monday 22:00-06:00"
    flow_page = admin_client.get("/admin/telephony/callflow/add/").content.decode()
    assert "step-for-hours" in flow_page


@pytest.mark.django_db
def test_a_release_page_says_the_hours_step_and_the_schedules(live_demo):
    from telephony.admin.release_text import snapshot_in_words

    html = snapshot_in_words(loading.snapshot("1"))
    assert (
        "Hours by &quot;Office hours&quot;, open -&gt; the steps after, "
        "closed -&gt; &quot;We are closed&quot;" in html
    )
    assert (
        "<li>Office hours (America/Los_Angeles, US holidays): Monday 09:00-17:00, "
        "Tuesday 09:00-17:00" in html
    )
