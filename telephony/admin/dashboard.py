"""The dashboard page (/admin/dashboard/, URL name "admin:telephony_dashboard"): calls,
outcomes, menu choices, busiest hours, texts, broadcasts and voicemails for a date range
and optionally one of our numbers, each chart also as CSV (?csv=<chart>).

Thin: the form reads the range, telephony/logs/dashboard.py counts in SQL, charts.py draws
the SVG. Staff who may view call logs may see it.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.views import View

from telephony.admin import charts
from telephony.logs import dashboard
from telephony.models import PhoneNumber

DEFAULT_DAYS = 7
MAX_DAYS = 366
HOURLY_MAX_DAYS = 14  # more hours than that make bars too thin to read: the CSV has them


class DashboardForm(forms.Form):
    start = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    number = forms.ChoiceField(label="Number", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        numbers = PhoneNumber.objects.order_by("number").values_list("number", "friendly_name")
        self.fields["number"].choices = [("", "All numbers")] + [
            (str(number), f"{number} {name}".strip()) for number, name in numbers
        ]
        self.fields["number"].error_messages["invalid_choice"] = (
            "%(value)s is not one of our numbers; pick one from the list."
        )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            self.add_error("end", "The last day comes before the first; swap them.")
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("start", f"Pick at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def period(self) -> dashboard.Period:
        data = self.cleaned_data
        return dashboard.Period(start=data["start"], end=data["end"], number=data["number"])


@dataclass
class Chart:
    name: str  # the ?csv= name
    title: str
    svgs: list = field(default_factory=list)  # (subtitle, svg)
    note: str = ""
    csv_url: str = ""


def _day(day: dt.date) -> str:
    return date_format(day, "D j M")


# --- the charts' rows as CSV -------------------------------------------------------------


def _csv_calls_by_day(period):
    return ["day", "number", "calls"], dashboard.calls_by_day(period)


def _csv_calls_by_hour(period):
    rows = [(hour.isoformat(), n, c) for hour, n, c in dashboard.calls_by_hour(period)]
    return ["hour", "number", "calls"], rows


def _csv_outcomes(period):
    return ["outcome", "calls"], dashboard.outcomes(period)


def _csv_menu_options(period):
    return ["flow", "option", "count"], dashboard.menu_options(period)


def _csv_busiest_hours(period):
    grid = dashboard.busiest_hours(period)
    rows = [(dashboard.WEEKDAYS[d], h, grid[d][h]) for d in range(7) for h in range(24)]
    return ["weekday", "hour", "calls"], rows


def _csv_sms(period):
    return ["day", "texts_in", "texts_out", "opt_outs"], dashboard.sms_by_day(period)


def _csv_broadcasts(period):
    rows = [
        (b.id, b.name, b.state, b.total, b.done, b.percent)
        for b in dashboard.broadcasts_in_progress(period)
    ]
    return ["id", "name", "state", "recipients", "done", "percent_done"], rows


def _csv_voicemails(period):
    return ["box", "unheard"], dashboard.unheard_voicemails(period)


CSV = {
    "calls_by_day": _csv_calls_by_day,
    "calls_by_hour": _csv_calls_by_hour,
    "outcomes": _csv_outcomes,
    "menu_options": _csv_menu_options,
    "busiest_hours": _csv_busiest_hours,
    "sms": _csv_sms,
    "broadcasts": _csv_broadcasts,
    "voicemails": _csv_voicemails,
}


def csv_response(name: str, period: dashboard.Period) -> HttpResponse:
    header, rows = CSV[name](period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


# --- the charts as SVG ---------------------------------------------------------------------


def _by_number(rows, keys) -> list[tuple[str, list[int]]]:
    """[(number, [count per key])] from (key, number, count) rows."""
    index = {key: i for i, key in enumerate(keys)}
    series: dict[str, list[int]] = {}
    for key, number, count in rows:
        if key in index:  # always, as both come from the period; never a 500 if not
            series.setdefault(number or "unknown", [0] * len(keys))[index[key]] += count
    return sorted(series.items())


def build_charts(period: dashboard.Period) -> tuple[list[Chart], dict]:
    """The page's charts, and its summary line's totals; each query runs once."""
    days = period.days()
    hourly = dashboard.calls_by_hour(period)
    label_every = max(1, len(days) // 14)
    chart_list = [
        Chart(
            "calls_by_day",
            "Calls per day",
            [
                (
                    "",
                    charts.stacked_bars(
                        [_day(d) for d in days],
                        _by_number(dashboard.calls_by_day(period, hourly), days),
                        title="Calls per day, by number",
                        label_every=label_every,
                    ),
                )
            ],
        )
    ]
    per_hour = Chart("calls_by_hour", "Calls per hour")
    if len(days) <= HOURLY_MAX_DAYS:
        hours = period.hours()
        per_hour.svgs.append(
            (
                "",
                charts.stacked_bars(
                    [_day(h.date()) if h.hour == 0 else "" for h in hours],
                    _by_number(hourly, hours),
                    title="Calls per hour, by number",
                ),
            )
        )
    else:
        per_hour.note = (
            f"Pick at most {HOURLY_MAX_DAYS} days to see every hour; the CSV has them all."
        )
    chart_list.append(per_hour)
    outcome_rows = dashboard.outcomes(period)
    chart_list.append(
        Chart(
            "outcomes",
            "How calls ended",
            [
                (
                    "",
                    charts.horizontal_bars(
                        [
                            (label, n, f"series-{i % charts.SERIES_CLASSES}")
                            for i, (label, n) in enumerate(outcome_rows)
                        ],
                        title="How calls ended",
                    ),
                )
            ],
        )
    )
    menus = Chart("menu_options", "Menu choices")
    options: dict[str, list] = {}
    for flow, option, count in dashboard.menu_options(period):
        css = "gave-up" if option == dashboard.GAVE_UP else "series-0"
        label = "gave up" if option == dashboard.GAVE_UP else f"chose {option}"
        options.setdefault(flow or "unknown flow", []).append((label, count, css))
    for flow, rows in options.items():
        menus.svgs.append((flow, charts.horizontal_bars(rows, title=f"Menu choices in {flow}")))
    if not options:
        menus.note = "No caller chose anything in a menu in this period."
    chart_list.append(menus)
    chart_list.append(
        Chart(
            "busiest_hours",
            "Busiest hours",
            [
                (
                    "",
                    charts.heat_map(
                        dashboard.busiest_hours(period, hourly),
                        rows=dashboard.WEEKDAYS,
                        columns=[f"{h:02d}" for h in range(24)],
                        title="Calls by weekday and hour",
                    ),
                )
            ],
        )
    )
    sms_rows = dashboard.sms_by_day(period)
    chart_list.append(
        Chart(
            "sms",
            "Texts and opt-outs",
            [
                (
                    "",
                    charts.stacked_bars(
                        [_day(d) for d, *_ in sms_rows],
                        [
                            ("in", [r[1] for r in sms_rows]),
                            ("out", [r[2] for r in sms_rows]),
                            ("opt-outs", [r[3] for r in sms_rows]),
                        ],
                        title="Texts in and out, and opt-outs, per day",
                        label_every=label_every,
                    ),
                )
            ],
            note="Opt-outs count for every number (STOP stops texts from all of ours).",
        )
    )
    broadcasts = dashboard.broadcasts_in_progress(period)
    chart_list.append(
        Chart(
            "broadcasts",
            "Broadcasts in progress",
            [
                (
                    "",
                    charts.horizontal_bars(
                        [(f"{b.name} ({b.state})", b.percent, "series-1") for b in broadcasts],
                        title="Broadcasts in progress, percent done",
                    ),
                )
            ]
            if broadcasts
            else [],
            note="" if broadcasts else "No broadcast is scheduled, sending or paused.",
        )
    )
    voicemails = dashboard.unheard_voicemails(period)
    chart_list.append(
        Chart(
            "voicemails",
            "Unheard voicemails",
            [
                (
                    "",
                    charts.horizontal_bars(
                        [(box, n, "series-2") for box, n in voicemails],
                        title="Unheard voicemails by box",
                    ),
                )
            ]
            if voicemails
            else [],
            note="" if voicemails else "Every voicemail has been heard.",
        )
    )
    return chart_list, dashboard.summary(period, outcome_rows, sms_rows)


class DashboardView(View):
    admin_site = None

    def get(self, request):
        if not request.user.has_perm("telephony.view_calllog"):
            raise PermissionDenied
        # The range shown in the form when none was asked for: the last DEFAULT_DAYS days.
        data = request.GET.copy()
        today = timezone.localdate()
        if not data.get("start") and not data.get("end"):  # one alone: clean() fills in
            data["end"] = str(today)
            data["start"] = str(today - dt.timedelta(days=DEFAULT_DAYS - 1))
        form = DashboardForm(data)
        wanted = request.GET.get("csv", "")
        if wanted and wanted not in CSV:
            raise Http404("There is no chart of that name.")
        context = {
            **self.admin_site.each_context(request),
            "title": "Dashboard",
            "form": form,
            "charts": [],
        }
        if form.is_valid():
            period = form.period()
            if wanted:
                return csv_response(wanted, period)
            query = request.GET.copy()
            query.pop("csv", None)
            for key in ("start", "end", "number"):
                query[key] = str(form.cleaned_data[key])
            context["charts"], context["summary"] = build_charts(period)
            for chart in context["charts"]:
                query["csv"] = chart.name
                chart.csv_url = f"?{query.urlencode()}"
            context["period"] = period
        return TemplateResponse(request, "admin/telephony/dashboard.html", context)
