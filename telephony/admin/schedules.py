"""Schedules in the admin: weekly hours, closed dates and special days on one page, with
what they mean: a week view of the open hours, whether the line is open now and when that
changes, and the next closures with their reason.

Everything is rendered on the server as plain HTML (tables and lists, styled by
telephony/admin.css): the admin's Content-Security-Policy allows no inline script or
style. What staff see here is the draft: callers get it once it is published.
"""

import datetime

from django import forms
from django.contrib import admin
from django.contrib.admin import widgets
from django.db import models
from django.utils.html import format_html, format_html_join

from telephony.flows import schedules
from telephony.models import ClosedDate, OpenRange, Schedule, SpecialDay
from telephony.models.schedules import time_zone_names

CLOSURES_SHOWN = 10
# Times as staff type them: 09:00, not 09:00:00.
HOURS_AND_MINUTES = {models.TimeField: {"widget": widgets.AdminTimeWidget(format="%H:%M")}}


def schedule_data(schedule: Schedule) -> schedules.ScheduleData:
    """The saved schedule with its rows, as the decisions read a release's."""
    return schedules.ScheduleData.of(
        schedule, schedule.ranges.all(), schedule.closures.all(), schedule.special_days.all()
    )


class ScheduleForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=[],
        help_text=Schedule._meta.get_field("time_zone").help_text,
    )

    class Meta:
        model = Schedule
        fields = ["name", "time_zone", "holiday_country", "holiday_subdivision"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = sorted(time_zone_names())
        current = self.initial.get("time_zone")
        if current and current not in time_zone_names():  # shown, so staff see what to fix
            names.insert(0, current)
        self.fields["time_zone"].choices = [("", "---------"), *[(n, n) for n in names]]


class OpenRangeInline(admin.TabularInline):
    model = OpenRange
    formfield_overrides = HOURS_AND_MINUTES
    extra = 0
    verbose_name_plural = (
        "Weekly opening hours (several a day allowed; a range that closes at or before it "
        "opens ends the next day, e.g. 22:00-06:00)"
    )


class ClosedDateInline(admin.TabularInline):
    model = ClosedDate
    extra = 0
    fields = ["starts", "ends", "label"]
    verbose_name_plural = "Closed dates (closed all day, midnight to midnight)"


class SpecialDayInline(admin.TabularInline):
    model = SpecialDay
    formfield_overrides = HOURS_AND_MINUTES
    extra = 0
    fields = ["date", "opens", "closes", "label"]
    verbose_name_plural = (
        "Special days (open after all, e.g. on a holiday: these hours, or the usual ones "
        "when left blank; they win over closed dates and holidays)"
    )


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "time_zone", "public_holidays", "open_now"]
    search_fields = ["name"]
    inlines = [OpenRangeInline, ClosedDateInline, SpecialDayInline]
    readonly_fields = ["status", "week", "closures"]
    fieldsets = [
        (None, {"fields": ["name", "time_zone"]}),
        ("Public holidays", {"fields": [("holiday_country", "holiday_subdivision")]}),
        ("As saved (the draft)", {"fields": ["status", "week", "closures"]}),
    ]

    class Media:
        css = {"all": ["telephony/admin.css"]}

    @admin.display(description="public holidays")
    def public_holidays(self, obj):
        return obj.holiday_region or "-"

    @admin.display(description="open now")
    def open_now(self, obj):
        decision = schedules.is_open(schedule_data(obj), schedules.now())
        return f"{'Open' if decision.open else 'Closed'} ({decision.reason})"

    @admin.display(description="Now")
    def status(self, obj):
        if not obj.pk:
            return "Save the schedule to see whether it is open now."
        data = schedule_data(obj)
        at = schedules.now()
        decision = schedules.is_open(data, at)
        changes = schedules.next_changes(data, at, 1)
        state = "Open now" if decision.open else "Closed now"
        if not changes:
            then = "and that does not change in the next year."
        else:
            change = changes[0]
            verb = "opens" if change.open else "closes"
            then = f"{verb} {_when(change.at)}."
        return format_html(
            '<p class="schedule-now schedule-{}"><strong>{}</strong> ({}); {}</p>',
            "open" if decision.open else "closed",
            state,
            decision.reason,
            then,
        )

    @admin.display(description="Week view")
    def week(self, obj):
        if not obj.pk:
            return "-"
        data = schedule_data(obj)
        hours = format_html_join("", '<th scope="col">{}</th>', ((f"{h:02d}",) for h in range(24)))
        rows = []
        for number, (day, spans) in enumerate(schedules.week_view(data)):
            cells = format_html_join(
                "",
                '<td class="{}" title="{} {}:00"></td>',
                (
                    (
                        "schedule-open" if _open_in_hour(data, number, hour) else "schedule-closed",
                        day,
                        f"{hour:02d}",
                    )
                    for hour in range(24)
                ),
            )
            rows.append(
                format_html(
                    '<tr><th scope="row">{}</th>{}<td class="schedule-spans">{}</td></tr>',
                    day,
                    cells,
                    ", ".join(spans) or "closed",
                )
            )
        return format_html(
            '<table class="schedule-week"><thead><tr><th></th>{}<th>hours</th></tr></thead>'
            "<tbody>{}</tbody></table>"
            '<p class="help">A usual week, in {} time; closed dates, holidays and special '
            "days are listed below.</p>",
            hours,
            format_html_join("", "{}", ((row,) for row in rows)),
            obj.time_zone or "(no time zone)",
        )

    @admin.display(description=f"Next {CLOSURES_SHOWN} closures")
    def closures(self, obj):
        if not obj.pk:
            return "-"
        found = schedules.upcoming_closures(schedule_data(obj), schedules.now(), CLOSURES_SHOWN)
        if not found:
            return "No closed dates or public holidays in the next year."
        return format_html(
            '<ul class="schedule-closures">{}</ul>',
            format_html_join(
                "", "<li>{}: {}</li>", ((_days(c.starts, c.ends), c.reason) for c in found)
            ),
        )


def _when(at: datetime.datetime) -> str:
    return f"{at:%A %d %B %Y at %H:%M} ({at.tzname()})"


def _days(starts: datetime.date, ends: datetime.date) -> str:
    if starts == ends:
        return f"{starts:%a %d %b %Y}"
    return f"{starts:%a %d %b %Y} to {ends:%a %d %b %Y}"


def _open_in_hour(data: schedules.ScheduleData, weekday: int, hour: int) -> bool:
    """Open at some time in that hour of a usual week (no holidays, no DST)."""
    start, end = (weekday * 24 + hour) * 60, (weekday * 24 + hour + 1) * 60
    week = 7 * 24 * 60
    for day, ranges in data.weekly.items():
        for opens, closes in ranges:
            begins = day * 24 * 60 + opens.hour * 60 + opens.minute
            length = (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)
            if length <= 0:
                length += 24 * 60  # past midnight
            for shift in (0, -week):  # Sunday night runs into Monday morning
                if begins + shift < end and begins + shift + length > start:
                    return True
    return False
