"""The dashboard's numbers: what callers and texters did over a date range, counted in SQL.

Every function takes a `Period` (a range of days in the site's time zone, and optionally
one of our numbers) and returns plain rows, which the admin draws as SVG charts and writes
as CSV (telephony/admin/dashboard.py). Each chart is one or two aggregate queries on
indexed columns (created_at, (to_number, created_at), (from_number, created_at), (kind,
at)); bench/logs_scale.py times them at a year of a busy line.

"Our number" of a call or message is the number called or texted when it came in, and
the number it came from when we placed or sent it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, When
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from telephony.models import Broadcast, BroadcastRecipient, CallLog, MessageLog, OptOut, Voicemail
from telephony.models.journeys import CallEvent, CallOutcome
from telephony.models.logs import Direction

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# What a dashboard reader calls the end of a call, in the order the chart shows them.
OUTCOMES = [
    (CallOutcome.ANSWERED, "Answered"),
    (CallOutcome.ABANDONED, "Abandoned in the menu"),
    (CallOutcome.VOICEMAIL, "Voicemail"),
    (CallOutcome.MISSED, "Missed"),
    (CallOutcome.COMPLETED, "Heard the flow to its end"),
    (CallOutcome.REJECTED, "Rejected by a caller rule"),
    (CallOutcome.FAILED, "Failed"),
    ("", "Not known yet"),
]
GAVE_UP = "(gave up)"
GAVE_UP_KINDS = [CallEvent.Kind.NO_INPUT, CallEvent.Kind.HUNG_UP]
CALL_MAX = dt.timedelta(days=1)  # Twilio ends any call after 24 hours
# What calls are counted by: a column never null, and the one the period's index holds.
EVERY_CALL = "created_at"
IN_PROGRESS = [Broadcast.State.SCHEDULED, Broadcast.State.SENDING, Broadcast.State.PAUSED]


@dataclass(frozen=True)
class Period:
    """The days `start`..`end` (both included) in `tz`, and one of our numbers or ""."""

    start: dt.date
    end: dt.date
    number: str = ""
    tz: dt.tzinfo = field(default_factory=timezone.get_current_timezone)

    @classmethod
    def last_days(cls, days: int = 7, *, number: str = "") -> Period:
        today = timezone.localdate()
        return cls(start=today - dt.timedelta(days=days - 1), end=today, number=number)

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time.min, tzinfo=self.tz)

    @property
    def until(self) -> dt.datetime:
        """Midnight after the last day (excluded)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=self.tz)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def hours(self) -> list[dt.datetime]:
        """Every hour of the period, local time (23 or 25 on a day the clocks change)."""
        hours, at = [], self.since.astimezone(dt.UTC)
        while at < self.until:
            hours.append(at.astimezone(self.tz))
            at += dt.timedelta(hours=1)
        return hours


def ours(queryset: QuerySet, number: str) -> QuerySet:
    """Calls or messages of our `number`: to it when inbound, from it when outbound."""
    if not number:
        return queryset
    return queryset.filter(
        Q(direction=Direction.INBOUND, to_number=number)
        | Q(direction=Direction.OUTBOUND, from_number=number)
    )


def _our_number():
    return Case(When(direction=Direction.OUTBOUND, then=F("from_number")), default=F("to_number"))


def calls(period: Period) -> QuerySet:
    queryset = CallLog.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
    return ours(queryset, period.number)


def messages(period: Period) -> QuerySet:
    queryset = MessageLog.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
    return ours(queryset, period.number)


def _local(value: dt.datetime | dt.date, period: Period):
    """Trunc* answers aware datetimes in the current time zone; be sure they are in ours."""
    return value.astimezone(period.tz) if isinstance(value, dt.datetime) else value


def calls_by_hour(period: Period) -> list[tuple[dt.datetime, str, int]]:
    """(local hour, our number, calls) for every hour that had a call, by hour then
    number: the one query on calls that the per-day chart and the heat map add up too."""
    rows = (
        calls(period)
        .annotate(hour=TruncHour("created_at", tzinfo=period.tz), number=_our_number())
        .values("hour", "number")
        .annotate(calls=Count(EVERY_CALL))
        .order_by("hour", "number")
    )
    return [(_local(row["hour"], period), row["number"], row["calls"]) for row in rows]


def calls_by_day(period: Period, hourly: list | None = None) -> list[tuple[dt.date, str, int]]:
    """(day, our number, calls), by day then number; from `hourly` (calls_by_hour) if given."""
    days: dict[tuple[dt.date, str], int] = {}
    for hour, number, count in calls_by_hour(period) if hourly is None else hourly:
        days[hour.date(), number] = days.get((hour.date(), number), 0) + count
    return [(day, number, count) for (day, number), count in sorted(days.items())]


def busiest_hours(period: Period, hourly: list | None = None) -> list[list[int]]:
    """Calls by weekday (0 = Monday) and hour of the day: 7 lists of 24 counts."""
    grid = [[0] * 24 for _ in range(7)]
    for hour, _, count in calls_by_hour(period) if hourly is None else hourly:
        grid[hour.weekday()][hour.hour] += count
    return grid


def outcomes(period: Period) -> list[tuple[str, int]]:
    """(how calls ended, calls), every outcome listed, in one query."""
    counts = calls(period).aggregate(
        **{
            f"o{n}": Count(EVERY_CALL, filter=Q(outcome=value))
            for n, (value, _) in enumerate(OUTCOMES)
        }
    )
    return [(label, counts[f"o{n}"]) for n, (_, label) in enumerate(OUTCOMES)]


def _events(period: Period) -> QuerySet:
    queryset = CallEvent.objects.filter(at__gte=period.since, at__lt=period.until)
    if period.number:
        # Events carry no number: those of the period's calls to or from it.
        queryset = queryset.filter(call_sid__in=calls(period).values("sid"))
    return queryset


def menu_options(period: Period) -> list[tuple[str, str, int]]:
    """(flow, option, times chosen) for each menu, and (flow, GAVE_UP, callers) for the
    callers who gave up in it (no key pressed, or hung up there, and no choice made there
    at all: a caller who pressed nothing at first, then chose, did not give up), by flow
    then count."""
    events = _events(period)
    chosen = (
        events.filter(kind=CallEvent.Kind.INPUT)
        .exclude(option="")
        .values("flow", "option")
        .annotate(n=Count("option"))  # not "pk": the index holds option, not the id
    )
    # Gave up: no key pressed (or hung up) in a menu where the call then chose nothing.
    # The choice is looked for within a day of the period (no call lasts longer), which
    # keeps the database from reading every choice ever made to answer it.
    chose_there = CallEvent.objects.filter(
        kind=CallEvent.Kind.INPUT,
        call_sid=OuterRef("call_sid"),
        flow=OuterRef("flow"),
        at__gte=period.since - CALL_MAX,
        at__lt=period.until + CALL_MAX,
    ).exclude(option="")
    gave_up = (
        events.filter(kind__in=GAVE_UP_KINDS)
        .filter(~Exists(chose_there))
        .values("flow")
        .annotate(n=Count("call_sid", distinct=True))
    )
    rows = [(row["flow"], row["option"], row["n"]) for row in chosen]
    menus = {flow for flow, _, _ in rows}
    # Hanging up elsewhere (while talking to someone) is no giving up in a menu.
    rows += [(row["flow"], GAVE_UP, row["n"]) for row in gave_up if row["flow"] in menus]
    return sorted(rows, key=lambda row: (row[0], row[1] == GAVE_UP, -row[2], row[1]))


def sms_by_day(period: Period) -> list[tuple[dt.date, int, int, int]]:
    """(day, texts in, texts out, opt-outs) for every day of the period. Opt-outs are
    the account's (an opt-out is from all our numbers), whatever number is chosen."""
    days = {day: [0, 0, 0] for day in period.days()}
    rows = (
        messages(period)
        .annotate(day=TruncDay("created_at", tzinfo=period.tz))
        .values("day")
        .annotate(
            inbound=Count("pk", filter=Q(direction=Direction.INBOUND)),
            outbound=Count("pk", filter=Q(direction=Direction.OUTBOUND)),
        )
    )
    for row in rows:
        days[_local(row["day"], period).date()][:2] = [row["inbound"], row["outbound"]]
    opt_outs = (
        OptOut.objects.filter(created_at__gte=period.since, created_at__lt=period.until)
        .annotate(day=TruncDay("created_at", tzinfo=period.tz))
        .values("day")
        .annotate(n=Count("pk"))
    )
    for row in opt_outs:
        days[_local(row["day"], period).date()][2] = row["n"]
    return [(day, *counts) for day, counts in days.items()]


@dataclass(frozen=True)
class BroadcastProgress:
    id: int
    name: str
    state: str
    total: int
    done: int  # sent, failed, skipped or unknown: no longer waiting

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def broadcasts_in_progress(period: Period) -> list[BroadcastProgress]:
    """Broadcasts scheduled, sending or paused now (whatever the range), from our number
    when one is chosen."""
    queryset = Broadcast.objects.filter(state__in=IN_PROGRESS)
    if period.number:
        queryset = queryset.filter(phone_number__number=period.number)
    waiting = [BroadcastRecipient.State.QUEUED, BroadcastRecipient.State.SENDING]
    rows = queryset.annotate(
        total=Count("recipients"),
        waiting=Count("recipients", filter=Q(recipients__state__in=waiting)),
    ).order_by("created_at", "pk")
    return [
        BroadcastProgress(b.pk, b.name, b.get_state_display(), b.total, b.total - b.waiting)
        for b in rows
    ]


def unheard_voicemails(period: Period) -> list[tuple[str, int]]:
    """(box, voicemails nobody has heard yet), now (whatever the range), left on our
    number when one is chosen."""
    queryset = Voicemail.objects.filter(state=Voicemail.State.NEW)
    if period.number:
        queryset = queryset.filter(called=period.number)
    rows = queryset.values("box__name").annotate(n=Count("pk")).order_by()
    # Sorted here: databases put the null "no box" first or last as they please.
    return sorted((row["box__name"] or "No box", row["n"]) for row in rows)


def summary(period: Period, outcome_rows=None, sms_rows=None) -> dict[str, int]:
    """The period's totals: calls, calls answered, texts in and out; from the outcomes
    and sms_by_day rows when given."""
    outcome_rows = outcomes(period) if outcome_rows is None else outcome_rows
    sms_rows = sms_by_day(period) if sms_rows is None else sms_rows
    return {
        "calls": sum(n for _, n in outcome_rows),
        "answered": dict(outcome_rows)[dict(OUTCOMES)[CallOutcome.ANSWERED]],
        "texts_in": sum(row[1] for row in sms_rows),
        "texts_out": sum(row[2] for row in sms_rows),
    }
