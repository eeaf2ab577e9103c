"""Is the line open? Decisions on a schedule, in memory: no database, no clock of its own.

A schedule (`ScheduleData`: what a release holds, see flows/fixtures.py) says, for each
local date, which ranges are open (`day_plan()`), in this order of precedence:

1. special days (open after all: those hours, or the usual ones when none are given);
2. closed dates and date ranges (closed midnight to midnight);
3. public holidays of the schedule's country and subdivision (the `holidays` package),
   closed midnight to midnight;
4. the weekly ranges of that weekday.

A range belongs to the day it opens; one that closes at or before it opens ends the next
day (22:00-06:00), unless that next day is closed all day (a closed date or holiday cuts
an overnight range at midnight). Local times become instants with `zoneinfo`: a range
that opens in the hour a DST change skips opens when the clocks jump (02:30 on a spring
morning in New York opens at 03:00), and a time that happens twice is its first.

`is_open(schedule, at)` answers (open, reason); `next_changes(schedule, at, count)` says
when that changes. `at` is an aware datetime; a naive one is read on the schedule's own
clock ("10:00 there"), which is what the simulator's `--at 2026-12-25T10:00` means.
`now()` is the clock the webhooks decide by: `TELEPHONY_NOW` freezes it (tests, demos).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from django.conf import settings
from django.utils import timezone

from telephony.models.schedules import WEEKDAYS, span

UTC = datetime.UTC
DAY = datetime.timedelta(days=1)
# How far ahead next_changes() and upcoming_closures() look (and the checks' "next year").
HORIZON_DAYS = 400
MEMO_DAYS = 4 * HORIZON_DAYS  # entries a schedule keeps (plans and intervals: two a day)
_WEEKDAY_NAMES = dict(WEEKDAYS)
NO_TIME_ZONE = "the schedule has no valid time zone"
OUTSIDE_HOURS = "outside opening hours"


def now() -> datetime.datetime:
    """The time schedules are decided at: now, or TELEPHONY_NOW (ISO 8601) when set."""
    frozen = getattr(settings, "TELEPHONY_NOW", "")
    if frozen:
        try:
            return parse_time(frozen)
        except ValueError:  # a system check (telephony.E006) says so
            pass
    return timezone.now()


def parse_time(value: str) -> datetime.datetime:
    """ISO 8601 ("2026-12-25T10:00-05:00", "2026-12-25 10:00"); naive stays naive (read
    on each schedule's own clock). ValueError when it is no time."""
    return datetime.datetime.fromisoformat(value.strip())


class Decision(NamedTuple):
    """`is_open()`'s answer: `open, reason = is_open(...)`."""

    open: bool
    reason: str


class Change(NamedTuple):
    """The line opens (`open`) or closes at `at` (in the schedule's time zone)."""

    at: datetime.datetime
    open: bool
    reason: str


class Closure(NamedTuple):
    """Closed all day from `starts` to `ends` (local dates), for `reason`."""

    starts: datetime.date
    ends: datetime.date
    reason: str


@dataclass(frozen=True)
class DayPlan:
    """What a local date holds: its open ranges, or why it is closed all day."""

    ranges: tuple[tuple[datetime.time, datetime.time, str], ...] = ()  # opens, closes, reason
    closed_reason: str = ""  # closed all day: a closed date's label or a holiday
    special: str = ""  # a special day's label


@dataclass(frozen=True, eq=False)
class ScheduleData:
    """A schedule and its rows, as a release holds them (unsaved instances or any object
    with the same attributes). Read-only: shared by every request of a worker."""

    name: str
    time_zone: str
    holiday_country: str = ""
    holiday_subdivision: str = ""
    ranges: tuple = ()  # .weekday, .opens, .closes
    closures: tuple = ()  # .starts, .ends, .label
    special_days: tuple = ()  # .date, .opens, .closes, .label
    # Days already worked out (plans and open intervals by date): the rows never change,
    # so a call decides with two dictionary lookups once its days are known.
    memo: dict = field(default_factory=dict, repr=False)

    def remembered(self, key, build):
        value = self.memo.get(key)
        if value is None:
            if len(self.memo) >= MEMO_DAYS:
                self.memo.clear()
            value = self.memo[key] = build()
        return value

    @classmethod
    def of(cls, schedule, ranges, closures, special_days) -> ScheduleData:
        return cls(
            name=schedule.name,
            time_zone=schedule.time_zone,
            holiday_country=schedule.holiday_country,
            holiday_subdivision=schedule.holiday_subdivision,
            ranges=tuple(ranges),
            closures=tuple(closures),
            special_days=tuple(special_days),
        )

    @cached_property
    def zone(self) -> ZoneInfo | None:
        try:
            return ZoneInfo(self.time_zone) if self.time_zone else None
        except (ZoneInfoNotFoundError, ValueError):
            return None

    @cached_property
    def weekly(self) -> dict[int, list[tuple[datetime.time, datetime.time]]]:
        days: dict[int, list] = {}
        for row in self.ranges:
            days.setdefault(row.weekday, []).append((row.opens, row.closes))
        return {day: sorted(ranges) for day, ranges in days.items()}

    @cached_property
    def specials(self) -> dict[datetime.date, list]:
        days: dict[datetime.date, list] = {}
        for row in self.special_days:
            days.setdefault(row.date, []).append(row)
        return days

    @property
    def holiday_region(self) -> str:
        if not self.holiday_country:
            return ""
        return "-".join(filter(None, [self.holiday_country, self.holiday_subdivision]))


@lru_cache(maxsize=256)
def holidays_of(country: str, subdivision: str, year: int) -> dict[datetime.date, str]:
    """The public holidays of a country (and subdivision) in a year; {} if unknown."""
    try:
        found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except (NotImplementedError, KeyError, ValueError):
        return {}
    return {day: "; ".join(found.get_list(day)) for day in sorted(found)}


def holiday(schedule: ScheduleData, day: datetime.date) -> str:
    """The holiday on `day`, as "Christmas Day (US holiday)", or ""."""
    if not schedule.holiday_country:
        return ""
    name = holidays_of(schedule.holiday_country, schedule.holiday_subdivision, day.year).get(day)
    return f"{name} ({schedule.holiday_region} holiday)" if name else ""


def _weekly_ranges(schedule: ScheduleData, day: datetime.date):
    weekday = _WEEKDAY_NAMES[day.weekday()]
    return [
        (opens, closes, f"{weekday} {span(opens, closes)}")
        for opens, closes in schedule.weekly.get(day.weekday(), [])
    ]


def day_plan(schedule: ScheduleData, day: datetime.date) -> DayPlan:
    """The ranges open on local date `day`, or why it is closed all day."""
    return schedule.remembered(("plan", day), lambda: _day_plan(schedule, day))


def _day_plan(schedule: ScheduleData, day: datetime.date) -> DayPlan:
    special = schedule.specials.get(day)
    if special:
        ranges = []
        for row in special:
            if row.opens is None or row.closes is None:  # the usual hours of that weekday
                ranges += [
                    (opens, closes, f"{row.label}: usual hours {span(opens, closes)}")
                    for opens, closes, _ in _weekly_ranges(schedule, day)
                ]
            else:
                ranges.append((row.opens, row.closes, f"{row.label} {span(row.opens, row.closes)}"))
        labels = "; ".join(dict.fromkeys(row.label for row in special))
        return DayPlan(ranges=tuple(sorted(ranges)), special=labels)
    for closure in schedule.closures:
        if closure.starts <= day <= (closure.ends or closure.starts):
            return DayPlan(closed_reason=closure.label)
    name = holiday(schedule, day)
    if name:
        return DayPlan(closed_reason=name)
    return DayPlan(ranges=tuple(_weekly_ranges(schedule, day)))


def instant(naive: datetime.datetime, zone: ZoneInfo) -> datetime.datetime:
    """A local wall time as an instant (UTC). A time the clocks skip is the moment they
    jump (the first instant whose local time is at least `naive`); a time that happens
    twice is the first."""
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a gap: fold=1 reads it with the offset after the change (an instant before the
    # jump), fold=0 with the one before (after it). The jump lies between: find it.
    low = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    if low > high:
        low, high = high, low
    while high - low > 1:
        middle = (low + high) // 2
        local = datetime.datetime.fromtimestamp(middle, zone).replace(tzinfo=None)
        if local >= naive:
            high = middle
        else:
            low = middle
    return datetime.datetime.fromtimestamp(high, UTC)


def _to_utc(schedule: ScheduleData, at: datetime.datetime) -> datetime.datetime:
    if at.tzinfo is None:  # read on the schedule's clock
        return instant(at, schedule.zone)
    return at.astimezone(UTC)


def _intervals(schedule: ScheduleData, day: datetime.date):
    """(start, end, reason) of each range that opens on `day`, as UTC instants."""
    return schedule.remembered(("intervals", day), lambda: _build_intervals(schedule, day))


def _build_intervals(schedule: ScheduleData, day: datetime.date):
    zone = schedule.zone
    out = []
    plan = day_plan(schedule, day)
    for opens, closes, reason in plan.ranges:
        start = datetime.datetime.combine(day, opens)
        end = datetime.datetime.combine(day if closes > opens else day + DAY, closes)
        if end.date() > day and end.time() != datetime.time(0, 0):
            if day_plan(schedule, day + DAY).closed_reason:  # cut at midnight
                end = datetime.datetime.combine(day + DAY, datetime.time(0, 0))
        start, end = instant(start, zone), instant(end, zone)
        if start < end:  # a range inside the hour the clocks skip never opens
            out.append((start, end, reason))
    return tuple(sorted(out))


def is_open(schedule: ScheduleData, at: datetime.datetime) -> Decision:
    """(True, which range) while open at `at`, else (False, why closed)."""
    if schedule.zone is None:
        return Decision(False, NO_TIME_ZONE)
    moment = _to_utc(schedule, at)
    today = moment.astimezone(schedule.zone).date()
    for day in (today - DAY, today):
        for start, end, reason in _intervals(schedule, day):
            if start <= moment < end:
                return Decision(True, reason)
    plan = day_plan(schedule, today)
    if plan.closed_reason:
        return Decision(False, plan.closed_reason)
    if plan.special:
        return Decision(False, f"{plan.special}: outside its hours")
    return Decision(False, OUTSIDE_HOURS)


def _merged(schedule: ScheduleData, first_day: datetime.date, days: int) -> Iterator[tuple]:
    """Open periods (start, end) in order from `first_day`, overlapping ranges merged."""
    current = None
    for offset in range(days):
        for start, end, _reason in _intervals(schedule, first_day + offset * DAY):
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
    if current is not None:
        yield current


def next_changes(
    schedule: ScheduleData, at: datetime.datetime, count: int = 1, *, days: int = HORIZON_DAYS
) -> list[Change]:
    """The next `count` times the line opens or closes after `at` (within `days`)."""
    if schedule.zone is None or count < 1:
        return []
    moment = _to_utc(schedule, at)
    today = moment.astimezone(schedule.zone).date()
    changes = []
    for start, end in _merged(schedule, today - DAY, days + 1):
        for when, opening in ((start, True), (end, False)):
            if when > moment:
                local = when.astimezone(schedule.zone)
                changes.append(Change(local, opening, is_open(schedule, when).reason))
                if len(changes) >= count:
                    return changes
    return changes


def never_open(schedule: ScheduleData, at: datetime.datetime, *, days: int = 366) -> bool:
    """True when the line is closed now and does not open within `days`."""
    if schedule.zone is None:
        return True
    return not is_open(schedule, at).open and not next_changes(schedule, at, 1, days=days)


def upcoming_closures(
    schedule: ScheduleData, at: datetime.datetime, count: int = 10, *, days: int = HORIZON_DAYS
) -> list[Closure]:
    """The next `count` days (or runs of days) closed all day, with their reason; days
    with no weekly hours (a holiday on a Sunday) are left out: closed anyway."""
    if schedule.zone is None:
        return []
    today = _to_utc(schedule, at).astimezone(schedule.zone).date()
    out: list[Closure] = []
    for offset in range(days):
        day = today + offset * DAY
        reason = day_plan(schedule, day).closed_reason
        if not reason:
            continue
        if out and out[-1].reason == reason and out[-1].ends == day - DAY:
            out[-1] = out[-1]._replace(ends=day)  # the same closure goes on
            continue
        if not schedule.weekly.get(day.weekday()):  # closed that day anyway
            continue
        if len(out) >= count:
            break
        out.append(Closure(day, day, reason))
    return out


def week_view(schedule: ScheduleData) -> list[tuple[str, list[str]]]:
    """(weekday, its ranges as "09:00-17:00") for Monday to Sunday: the weekly hours."""
    return [
        (name, [span(opens, closes) for opens, closes in schedule.weekly.get(number, [])])
        for number, name in WEEKDAYS
    ]


# --- Hours steps ----------------------------------------------------------------------


class HoursDecision(NamedTuple):
    """What an Hours step decided: the schedule's name, open or not, and why."""

    schedule: str
    open: bool
    reason: str


def decide_hours(step, schedules: dict, at: datetime.datetime) -> HoursDecision:
    """An Hours step's decision at `at`; without its schedule (deleted), closed."""
    name = step.schedule.name if step.schedule is not None else ""
    data = schedules.get(name)
    if data is None:
        return HoursDecision(name, False, "the step has no schedule")
    open_, reason = is_open(data, at)
    return HoursDecision(name, open_, reason)


def decide_flow(loaded, at: datetime.datetime, steps=None) -> dict[int, HoursDecision]:
    """The decisions of a loaded flow's Hours steps (of `steps` only, when given), by
    position."""
    chosen = loaded.hours_steps if steps is None else steps
    return {
        step.position: decide_hours(step, loaded.schedules, at)
        for step in chosen
        if step.verb == "hours"
    }
