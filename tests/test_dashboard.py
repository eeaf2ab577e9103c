"""The dashboard (/admin/dashboard/): its numbers on a known data set, chart by chart and as
CSV, the range and number filters, bad input, and the SVG it draws (parsed)."""

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zoneinfo

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from telephony.admin import charts
from telephony.logs import dashboard
from telephony.models import (
    Broadcast,
    BroadcastRecipient,
    CallEvent,
    CallLog,
    MessageLog,
    OptOut,
    PhoneNumber,
    Voicemail,
    VoicemailBox,
)

pytestmark = pytest.mark.django_db

A, B = "+15005550006", "+15005550007"
CALLER, OTHER = "+14155551234", "+14155550100"
NY = zoneinfo.ZoneInfo("America/New_York")
URL = "/admin/dashboard/"
RANGE = {"start": "2026-03-02", "end": "2026-03-08"}  # Mon..Sun; clocks go forward on the 8th
SVG = "{http://www.w3.org/2000/svg}"
CHART_SVG = r'<svg xmlns="http://www.w3.org/2000/svg"[^>]*class="chart".*?</svg>'


def local(day, hour, minute=0):
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=NY)


def _at(model, obj, when):
    model.objects.filter(pk=obj.pk).update(created_at=when)


def call(n, when, *, to=A, from_=CALLER, direction="inbound", outcome=""):
    log = CallLog.objects.create(
        sid=f"CA{n:032x}", direction=direction, to_number=to, from_number=from_, outcome=outcome
    )
    _at(CallLog, log, when)
    return log.sid


def event(sid, kind, when, flow="main-menu", option=""):
    CallEvent.objects.create(call_sid=sid, kind=kind, at=when, flow=flow, option=option)


def text(n, when, *, direction="inbound", to=A, from_=CALLER):
    log = MessageLog.objects.create(
        sid=f"SM{n:032x}", direction=direction, to_number=to, from_number=from_, body="hi"
    )
    _at(MessageLog, log, when)


@pytest.fixture
def known(settings):
    """A week in New York: calls, menu events, texts, an opt-out, broadcasts, voicemails."""
    settings.TIME_ZONE = "America/New_York"
    timezone.activate(NY)
    PhoneNumber.objects.create(number=A, friendly_name="Main")
    PhoneNumber.objects.create(number=B, friendly_name="Sales")
    c1 = call(1, local(2, 9, 15), outcome="answered")
    c2 = call(2, local(2, 9, 40), outcome="abandoned")
    c3 = call(3, local(3, 23, 30), to=B, outcome="voicemail")  # 04:30 UTC on the 4th
    call(4, local(4, 10), direction="outbound", to=OTHER, from_=A, outcome="missed")
    c5 = call(5, local(1, 23, 59), outcome="answered")  # the day before
    call(6, local(9, 0), outcome="answered")  # the day after
    call(7, local(8, 12), to=B)  # after the clocks changed; still running
    event(c1, "input", local(2, 9, 16), option="1")
    event(c1, "hung_up", local(2, 9, 20), flow="sales")  # not a menu: no giving up there
    event(c2, "no_input", local(2, 9, 41))
    event(c2, "no_input", local(2, 9, 42))
    event(c2, "hung_up", local(2, 9, 42))
    event(c3, "no_input", local(3, 23, 31))  # silent at first, then chose: no giving up
    event(c3, "input", local(3, 23, 31), option="2")
    event(c5, "input", local(1, 23, 59), option="1")  # outside the range
    text(1, local(2, 8))
    text(2, local(2, 8, 30))
    text(3, local(2, 8, 31), direction="outbound", to=CALLER, from_=A)
    text(4, local(5, 14), to=B)
    text(5, local(10, 14))  # outside
    opt_out = OptOut.objects.create(number=CALLER)
    OptOut.objects.filter(pk=opt_out.pk).update(created_at=local(5, 15))
    sending = Broadcast.objects.create(
        name="Closure", body="We are closed", messaging_service_sid="MG" + "a" * 32, state="sending"
    )
    for n, state in enumerate(["sent", "queued", "queued"]):
        BroadcastRecipient.objects.create(broadcast=sending, number=f"+1415555000{n}", state=state)
    Broadcast.objects.create(
        name="Old", body="x", messaging_service_sid="MG" + "a" * 32, state="done"
    )
    box = VoicemailBox.objects.create(name="Front desk")
    for n, (state, where, in_box) in enumerate(
        [("new", A, True), ("new", A, True), ("heard", A, True), ("new", B, False)]
    ):
        Voicemail.objects.create(
            recording_sid=f"RE{n:032x}", state=state, called=where, box=box if in_box else None
        )
    yield
    timezone.deactivate()


def period(number=""):
    return dashboard.Period(dt.date(2026, 3, 2), dt.date(2026, 3, 8), number=number, tz=NY)


# --- the service's numbers ------------------------------------------------------------------


def test_calls_by_day_in_the_sites_time_zone(known):
    d = dt.date
    assert dashboard.calls_by_day(period()) == [
        (d(2026, 3, 2), A, 2),
        (d(2026, 3, 3), B, 1),  # 23:30 in New York, already the 4th in UTC
        (d(2026, 3, 4), A, 1),  # outbound: counted for the number it was placed from
        (d(2026, 3, 8), B, 1),
    ]
    assert dashboard.calls_by_day(period(A)) == [(d(2026, 3, 2), A, 2), (d(2026, 3, 4), A, 1)]


def test_calls_by_hour(known):
    rows = dashboard.calls_by_hour(period())
    assert [(h.replace(tzinfo=None), n, c) for h, n, c in rows] == [
        (dt.datetime(2026, 3, 2, 9), A, 2),
        (dt.datetime(2026, 3, 3, 23), B, 1),
        (dt.datetime(2026, 3, 4, 10), A, 1),
        (dt.datetime(2026, 3, 8, 12), B, 1),
    ]
    assert len(period().hours()) == 7 * 24 - 1  # the 8th has 23 hours in New York


def test_outcomes(known):
    counts = dict(dashboard.outcomes(period()))
    assert counts["Answered"] == 1
    assert counts["Abandoned in the menu"] == 1
    assert counts["Voicemail"] == 1
    assert counts["Missed"] == 1
    assert counts["Not known yet"] == 1
    assert sum(counts.values()) == 5
    assert dict(dashboard.outcomes(period(B))) == {
        **{label: 0 for label in counts},
        "Voicemail": 1,
        "Not known yet": 1,
    }


def test_menu_options_and_who_gave_up(known):
    assert dashboard.menu_options(period()) == [
        ("main-menu", "1", 1),
        ("main-menu", "2", 1),
        ("main-menu", dashboard.GAVE_UP, 1),  # one caller, however many times unanswered
    ]
    assert dashboard.menu_options(period(A)) == [
        ("main-menu", "1", 1),
        ("main-menu", dashboard.GAVE_UP, 1),
    ]


def test_busiest_hours(known):
    grid = dashboard.busiest_hours(period())
    assert grid[0][9] == 2  # Monday 9:00
    assert grid[1][23] == 1  # Tuesday 23:00 (New York)
    assert grid[2][10] == 1
    assert grid[6][12] == 1
    assert sum(map(sum, grid)) == 5


def test_sms_and_opt_outs(known):
    rows = {day.day: counts for day, *counts in dashboard.sms_by_day(period())}
    assert len(rows) == 7
    assert rows[2] == [2, 1, 0]
    assert rows[5] == [1, 0, 1]
    assert sum(sum(c) for c in rows.values()) == 5
    rows_a = {day.day: counts for day, *counts in dashboard.sms_by_day(period(A))}
    assert rows_a[2] == [2, 1, 0]
    assert rows_a[5] == [0, 0, 1]  # opt-outs are the account's


def test_broadcasts_and_voicemails(known):
    (progress,) = dashboard.broadcasts_in_progress(period())
    assert (progress.name, progress.total, progress.done, progress.percent) == ("Closure", 3, 1, 33)
    assert dashboard.broadcasts_in_progress(period(A)) == []  # sent through a Messaging Service
    assert dashboard.unheard_voicemails(period()) == [("Front desk", 2), ("No box", 1)]
    assert dashboard.unheard_voicemails(period(B)) == [("No box", 1)]


def test_summary(known):
    assert dashboard.summary(period()) == {"calls": 5, "answered": 1, "texts_in": 3, "texts_out": 1}


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


def svgs(response) -> dict[str, ET.Element]:
    """Each chart's SVG, parsed strictly, by the title it carries."""
    html = response.content.decode()
    found = {}
    for markup in re.findall(CHART_SVG, html, flags=re.S):
        root = ET.fromstring(markup)
        assert root.tag == SVG + "svg"
        found[root.find(SVG + "title").text] = root
    return found


def titles(root, group_class):
    return [
        g.find(SVG + "title").text for g in root.iter(SVG + "g") if g.get("class") == group_class
    ]


def test_the_url_name():
    assert reverse("admin:telephony_dashboard") == URL


def test_page_draws_every_chart(known, staff):
    response = staff.get(URL, RANGE)
    assert response.status_code == 200
    drawn = svgs(response)
    days = titles(drawn["Calls per day, by number"], "chart-column")
    assert days[0] == f"Mon 2 Mar: 2 ({A} 2)"
    assert days[1] == f"Tue 3 Mar: 1 ({B} 1)"
    assert days[-1] == f"Sun 8 Mar: 1 ({B} 1)"
    assert len(titles(drawn["Calls per hour, by number"], "chart-column")) == 167
    ended = titles(drawn["How calls ended"], "chart-row")
    assert ended[:4] == ["Answered: 1", "Abandoned in the menu: 1", "Voicemail: 1", "Missed: 1"]
    assert titles(drawn["Menu choices in main-menu"], "chart-row") == [
        "chose 1: 1",
        "chose 2: 1",
        "gave up: 1",
    ]
    cells = titles(drawn["Calls by weekday and hour"], "chart-cell")
    assert len(cells) == 7 * 24
    assert "Mon 09:00 - 2 calls" in cells
    heat = [r.get("class") for r in drawn["Calls by weekday and hour"].iter(SVG + "rect")]
    assert heat.count("heat heat-5") == 1 and heat.count("heat heat-0") == 7 * 24 - 4
    sms = titles(drawn["Texts in and out, and opt-outs, per day"], "chart-column")
    assert sms[0] == "Mon 2 Mar: 3 (in 2, out 1)"
    assert titles(drawn["Broadcasts in progress, percent done"], "chart-row") == [
        "Closure (Sending): 33"
    ]
    assert titles(drawn["Unheard voicemails by box"], "chart-row") == [
        "Front desk: 2",
        "No box: 1",
    ]
    page = response.content.decode()
    assert "<strong>5</strong> calls" in page
    assert 'style="' not in page.split('id="content-main"')[1]  # CSP: classes only
    assert "<script" not in "".join(re.findall(CHART_SVG, page, flags=re.S))


def test_number_filter_on_the_page(known, staff):
    drawn = svgs(staff.get(URL, {**RANGE, "number": B}))
    assert (
        titles(drawn["Calls per day, by number"], "chart-column")[1] == "Tue 3 Mar: 1"
    )  # one series: no breakdown
    assert titles(drawn["Calls per day, by number"], "chart-column")[0] == "Mon 2 Mar: 0"
    assert "Menu choices in main-menu" in drawn  # c3 pressed 2


def read_csv(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_chart_as_csv(known, staff):
    def get(name, **extra):
        return read_csv(staff.get(URL, {**RANGE, **extra, "csv": name}))

    assert get("calls_by_day") == [
        ["day", "number", "calls"],
        ["2026-03-02", A, "2"],
        ["2026-03-03", B, "1"],
        ["2026-03-04", A, "1"],
        ["2026-03-08", B, "1"],
    ]
    assert get("calls_by_day", number=A)[1:] == [["2026-03-02", A, "2"], ["2026-03-04", A, "1"]]
    hours = get("calls_by_hour")
    assert hours[1] == ["2026-03-02T09:00:00-05:00", A, "2"]
    assert hours[-1] == ["2026-03-08T12:00:00-04:00", B, "1"]  # daylight saving time
    assert ["Voicemail", "1"] in get("outcomes")
    assert get("menu_options") == [
        ["flow", "option", "count"],
        ["main-menu", "1", "1"],
        ["main-menu", "2", "1"],
        ["main-menu", "(gave up)", "1"],
    ]
    busiest = get("busiest_hours")
    assert len(busiest) == 1 + 7 * 24 and ["Mon", "9", "2"] in busiest
    sms = get("sms")
    assert sms[1] == ["2026-03-02", "2", "1", "0"] and len(sms) == 8
    assert get("broadcasts")[1][1:] == ["Closure", "Sending", "3", "1", "33"]
    assert get("voicemails") == [["box", "unheard"], ["Front desk", "2"], ["No box", "1"]]
    response = staff.get(URL, {**RANGE, "csv": "outcomes"})
    assert 'filename="outcomes-20260302-20260308.csv"' in response["Content-Disposition"]


def test_csv_links_keep_the_filters(known, staff):
    response = staff.get(URL, {**RANGE, "number": A})
    links = re.findall(r'href="(\?[^"]*csv=calls_by_day[^"]*)"', response.content.decode())
    assert len(links) == 1
    data = read_csv(staff.get(URL + links[0].replace("&amp;", "&")))
    assert data[1:] == [["2026-03-02", A, "2"], ["2026-03-04", A, "1"]]


def test_default_range_is_the_last_seven_days(staff):
    PhoneNumber.objects.create(number=A)
    CallLog.objects.create(sid="CA" + "1" * 32, direction="inbound", to_number=A)
    old = CallLog.objects.create(sid="CA" + "2" * 32, direction="inbound", to_number=A)
    _at(CallLog, old, timezone.now() - dt.timedelta(days=8))
    response = staff.get(URL)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.cleaned_data["end"] == timezone.localdate()
    assert form.cleaned_data["start"] == timezone.localdate() - dt.timedelta(days=6)
    assert response.context["summary"]["calls"] == 1
    assert read_csv(staff.get(URL, {"csv": "calls_by_day"}))[1:] == [
        [str(timezone.localdate()), A, "1"]
    ]


@pytest.mark.parametrize(
    "params, field, words",
    [
        ({"start": "yesterday"}, "start", "Enter a valid date."),
        ({"start": "2026-03-09", "end": "2026-03-02"}, "end", "comes before the first"),
        ({"start": "2024-01-01", "end": "2026-03-02"}, "start", "at most 366 days"),
        ({"number": "+19999999999"}, "number", "is not one of our numbers"),
        ({"end": "2026-02-30"}, "end", "Enter a valid date."),
    ],
)
def test_bad_input_is_shown_next_to_its_field(known, staff, params, field, words):
    response = staff.get(URL, params)
    assert response.status_code == 200
    form = response.context["form"]
    assert words in " ".join(form.errors[field])
    assert response.context["charts"] == []
    assert words in response.content.decode().replace("&#x27;", "'")
    # A CSV of a bad range is the page with its errors, not a file.
    response = staff.get(URL, {**params, "csv": "outcomes"})
    assert response["Content-Type"].startswith("text/html")


def test_unknown_chart_is_404(known, staff):
    assert staff.get(URL, {**RANGE, "csv": "../../etc/passwd"}).status_code == 404


def test_who_may_see_it(known, client):
    assert client.get(URL).status_code == 302  # to the login page
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(clerk)
    assert client.get(URL).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_calllog"))
    assert client.get(URL, RANGE).status_code == 200


# --- the SVG builder ---------------------------------------------------------------------------


def test_labels_are_escaped_and_empty_charts_say_so():
    svg = charts.horizontal_bars([("<b>&", 3, "series-0")], title='x"y')
    root = ET.fromstring(svg)
    assert root.get("aria-label") == 'x"y'
    assert [t.text for t in root.iter(SVG + "text")] == ["<b>&", "3"]
    empty = ET.fromstring(charts.stacked_bars([], [], title="t"))
    assert "Nothing in this period" in [t.text for t in empty.iter(SVG + "text")]
    assert ET.fromstring(
        charts.heat_map(
            [[0] * 24] * 7, rows=list("1234567"), columns=[str(h) for h in range(24)], title="h"
        )
    )


def test_bars_are_to_scale():
    root = ET.fromstring(charts.stacked_bars(["a", "b"], [("s", [10, 5])], title="t"))
    heights = [
        float(r.get("height"))
        for r in root.iter(SVG + "rect")
        if "series-0" in r.get("class") and r.get("width") != "10.0"
    ]
    assert heights[0] == pytest.approx(2 * heights[1])
    assert charts.nice_ceiling(0) == 1 and charts.nice_ceiling(7) == 10
    assert charts.nice_ceiling(11) == 20 and charts.nice_ceiling(450) == 500


def test_one_end_of_the_range_alone(known, staff):
    response = staff.get(URL, {"end": "2026-03-08"})
    assert response.context["form"].cleaned_data["start"] == dt.date(2026, 3, 2)
    response = staff.get(URL, {"start": "2026-03-02"})
    assert response.context["form"].cleaned_data["end"] == timezone.localdate()
    assert 'value="2026-03-02"' in response.content.decode()  # shown in the form
