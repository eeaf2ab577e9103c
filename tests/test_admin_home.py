"""The admin is Switchboard's, and its home page starts staff off: numbers and their flows,
the draft's changes with the Publish button, unheard voicemails, today's calls; each part
only for staff allowed to open the page behind it. And the "Add a flow from a template" page."""

import datetime
import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from telephony.models import (
    CallFlow,
    CallLog,
    CallOutcome,
    PhoneNumber,
    Step,
    Voicemail,
    VoicemailBox,
)
from tests.factories import publish

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
SECOND = "+14155550111"


def section(response, name: str) -> str | None:
    """The text of the home page's section `sb-<name>`, tags stripped; None if absent."""
    html = response.content.decode()
    match = re.search(rf'<section[^>]*id="sb-{name}"[^>]*>(.*?)</section>', html, re.S)
    if match is None:
        return None
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def links(response, name: str) -> list[str]:
    html = response.content.decode()
    match = re.search(rf'<section[^>]*id="sb-{name}"[^>]*>(.*?)</section>', html, re.S)
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', match.group(1))]


def voicemail(box, n, *, state=Voicemail.State.NEW, caller="+14155551234"):
    return Voicemail.objects.create(
        box=box, recording_sid="RE" + f"{n:032x}", caller=caller, state=state
    )


def call(n, *, at=None, outcome=""):
    log = CallLog.objects.create(
        sid="CA" + f"{n:032x}",
        direction="inbound",
        from_number="+14155551234",
        to_number=DEMO,
        status="completed",
        outcome=outcome,
    )
    if at is not None:  # created_at is auto_now_add: move it afterwards
        CallLog.objects.filter(pk=log.pk).update(created_at=at)
    return log


@pytest.fixture
def known_data(live_demo):
    """The demo, published; then a draft change of the demo number's flow, a second number
    with no flow, voicemails in two boxes and calls today and yesterday."""
    sales = CallFlow.objects.get(slug="sales")
    number = PhoneNumber.objects.get(number=DEMO)
    number.call_flow = sales
    number.save()
    PhoneNumber.objects.create(number=SECOND, friendly_name="Second line")
    front = VoicemailBox.objects.get(name="Front desk")
    back = VoicemailBox.objects.create(name="Back office")
    voicemail(front, 1, caller="+14155550001")
    voicemail(front, 2, caller="+14155550002")
    voicemail(front, 3, state=Voicemail.State.HEARD)
    voicemail(back, 4, caller="+14155550004")
    now = timezone.localtime()
    call(1, outcome=CallOutcome.ANSWERED)
    call(2, outcome=CallOutcome.MISSED)
    call(3, outcome=CallOutcome.VOICEMAIL)
    call(4, at=now - datetime.timedelta(days=1, hours=1), outcome=CallOutcome.MISSED)
    return {"front": front, "back": back}


def test_the_admin_is_switchboards(admin_client):
    response = admin_client.get("/admin/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Django administration" not in html and "Django site admin" not in html
    assert re.search(r'<div id="site-name"><a href="/admin/">\s*Switchboard\s*</a>', html)
    assert "<title>Your phone line | Switchboard</title>" in html
    # Django's app list is still there, below.
    assert 'class="app-telephony module' in html


def test_the_home_page_on_a_known_data_set(admin_client, known_data):
    response = admin_client.get("/admin/")
    assert response.status_code == 200

    numbers = section(response, "numbers")
    # The demo number: callers get the live Main menu; the draft has Sales.
    assert "+15005550006 (Demo line) Callers get Main menu . After you publish: Sales ." in numbers
    assert f'{SECOND} (Second line) No flow: callers hear "not available".' in numbers
    number_links = links(response, "numbers")
    demo = PhoneNumber.objects.get(number=DEMO)
    sales = CallFlow.objects.get(slug="sales")
    assert reverse("admin:telephony_phonenumber_change", args=[demo.pk]) in number_links
    assert reverse("admin:telephony_callflow_change", args=[sales.pk]) in number_links
    assert reverse("admin:telephony_phonenumber_simulate", args=[demo.pk]) in number_links
    assert reverse("admin:telephony_phonenumber_simulate_sms", args=[demo.pk]) in number_links

    changes = section(response, "changes")
    assert "2 changes callers do not hear yet (they get release 1)" in changes
    assert 'Number +15005550006 now answers with "Sales" (was "Main menu")' in changes
    assert "Publish changes" in changes
    assert reverse("admin:telephony_release_publish") in links(response, "changes")

    voicemails = section(response, "voicemail")
    assert "3 unheard" in voicemails  # a superuser hears every box; the heard one is not counted
    assert "+14155550004" in voicemails and "Back office" in voicemails
    inbox = links(response, "voicemail")[0]
    assert inbox == reverse("admin:telephony_voicemail_changelist") + "?state__exact=new"
    assert admin_client.get(inbox).status_code == 200

    calls = section(response, "calls")
    assert "3 calls today" in calls and "1 missed" in calls and "1 left a voicemail" in calls

    tools = links(response, "tools")
    assert reverse("admin:telephony_callflow_from_template") in tools
    assert any(url.startswith("/admin/telephony/release/") for url in tools)  # the diagram
    assert section(response, "start-here") is None  # flows exist


def test_the_call_log_link_shows_the_calls_counted(admin_client, known_data):
    response = admin_client.get("/admin/")
    today, missed = links(response, "calls")[:2]
    page = admin_client.get(today)
    assert page.status_code == 200 and "?e=1" not in page.get("Location", "")
    assert page.context["cl"].result_count == 3
    page = admin_client.get(missed)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1


def test_nothing_to_publish_says_so(admin_client, live_demo):
    changes = section(admin_client.get("/admin/"), "changes")
    assert "Nothing to publish: callers hear what you see (release 1)." in changes


def test_a_new_install_starts_here(admin_client):
    response = admin_client.get("/admin/")
    start = section(response, "start-here")
    assert "Create a flow from a template" in start
    assert "Add your Twilio number" in start
    assert reverse("admin:telephony_callflow_from_template") in links(response, "start-here")
    assert "No phone numbers yet." in section(response, "numbers")
    assert "0 calls today" in section(response, "calls")
    assert "0 unheard" in section(response, "voicemail")


def staff(django_user_model, *codenames, username="reception"):
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="telephony", codename__in=codenames)
    )
    return user


def test_limited_staff_see_only_what_they_may_open(client, django_user_model, known_data):
    user = staff(django_user_model, "view_callflow")
    known_data["front"].listeners.add(user)  # may listen to Front desk only
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert section(response, "numbers") is None
    assert section(response, "calls") is None
    changes = section(response, "changes")
    assert "2 changes callers do not hear yet" in changes
    assert "Review the changes" in changes and "Publish changes" not in changes
    voicemails = section(response, "voicemail")
    assert "2 unheard" in voicemails  # Front desk's; not Back office's
    assert "Back office" not in voicemails
    assert reverse("admin:telephony_callflow_from_template") not in response.content.decode()
    assert section(response, "start-here") is None


def test_staff_with_no_permissions_get_an_empty_home(client, django_user_model, known_data):
    client.force_login(staff(django_user_model))
    response = client.get("/admin/")
    assert response.status_code == 200
    for name in ("numbers", "changes", "voicemail", "calls", "start-here"):
        assert section(response, name) is None, name
    assert "+15005550006" not in response.content.decode()


def test_number_viewers_see_numbers_without_flow_links(client, django_user_model, known_data):
    client.force_login(staff(django_user_model, "view_phonenumber", "view_calllog"))
    response = client.get("/admin/")
    assert "Callers get Main menu" in section(response, "numbers")
    assert not any("/callflow/" in url for url in links(response, "numbers"))
    assert "3 calls today" in section(response, "calls")
    assert section(response, "changes") is None


def test_the_dashboard_link_appears_only_when_the_page_exists(admin_client):
    from django.urls import NoReverseMatch

    try:
        url = reverse("admin:telephony_dashboard")
    except NoReverseMatch:
        url = None
    tools = links(admin_client.get("/admin/"), "tools")
    assert (url in tools) if url else not any("dashboard" in link for link in tools)


# --- Add a flow from a template -------------------------------------------------------------


def test_the_flow_list_links_to_the_template_page(admin_client):
    response = admin_client.get(reverse("admin:telephony_callflow_changelist"))
    assert reverse("admin:telephony_callflow_from_template") in response.content.decode()


def test_add_a_flow_from_a_template(admin_client):
    url = reverse("admin:telephony_callflow_from_template")
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Forward to a phone, voicemail if nobody answers" in html and "Empty flow" in html
    response = admin_client.post(
        url, {"name": "Billing", "template": "forward_voicemail", "forward_to": "+14155550199"}
    )
    flow = CallFlow.objects.get(name="Billing")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:telephony_callflow_change", args=[flow.pk])
    assert flow.steps.get(verb=Step.Verb.DIAL).dial_target == "+14155550199"
    assert admin_client.get(response["Location"]).status_code == 200


def test_a_bad_number_shows_next_to_its_field_and_creates_nothing(admin_client):
    url = reverse("admin:telephony_callflow_from_template")
    response = admin_client.post(
        url, {"name": "Billing", "template": "forward_voicemail", "forward_to": "12"}
    )
    assert response.status_code == 200
    assert "E.164" in " ".join(response.context["form"].errors["forward_to"])
    assert not CallFlow.objects.exists()
    response = admin_client.post(url, {"name": "", "template": "menu"})
    assert response.status_code == 200 and "name" in response.context["form"].errors


def test_fields_of_other_templates_are_ignored(admin_client):
    url = reverse("admin:telephony_callflow_from_template")
    admin_client.post(url, {"name": "Address", "template": "text_address", "forward_to": "12"})
    flow = CallFlow.objects.get(name="Address")
    assert flow.steps.filter(verb=Step.Verb.SMS).exists()


def test_the_template_page_needs_the_add_permission(client, django_user_model):
    client.force_login(staff(django_user_model, "view_callflow"))
    url = reverse("admin:telephony_callflow_from_template")
    assert client.get(url).status_code == 403
    assert client.post(url, {"name": "X", "template": "menu"}).status_code == 403
    assert not CallFlow.objects.exists()


def test_published_template_flows_answer_calls(admin_client, demo):
    """A template's flow, chosen on a number and published, is what callers get."""
    admin_client.post(
        reverse("admin:telephony_callflow_from_template"), {"name": "Support", "template": "menu"}
    )
    number = PhoneNumber.objects.get(number=DEMO)
    number.call_flow = CallFlow.objects.get(name="Support")
    number.save()
    publish()
    response = admin_client.get("/admin/")
    numbers = section(response, "numbers")
    assert "+15005550006 (Demo line) Support Simulate a call" in numbers
    assert "After you publish" not in numbers


def test_a_new_install_says_nothing_is_published(admin_client):
    changes = section(admin_client.get("/admin/"), "changes")
    assert "Nothing is published yet, so callers hear no flow" in changes


def test_a_number_not_yet_published_says_what_callers_will_get(admin_client, live_demo):
    PhoneNumber.objects.create(number=SECOND, call_flow=CallFlow.objects.get(slug="sales"))
    numbers = section(admin_client.get("/admin/"), "numbers")
    assert f"{SECOND} Callers get no flow yet. After you publish: Sales ." in numbers


def test_today_is_the_local_calendar_day_across_a_clock_change(settings):
    from zoneinfo import ZoneInfo

    from telephony.logs.today import today_window

    settings.TIME_ZONE = "America/New_York"
    zone = ZoneInfo("America/New_York")
    # 1 November 2026: the clocks go back an hour, so the day is 25 hours long.
    with timezone.override(zone):
        start, end = today_window(datetime.datetime(2026, 11, 1, 15, 0, tzinfo=zone))
    assert (start.isoformat(), end.isoformat()) == (
        "2026-11-01T00:00:00-04:00",
        "2026-11-02T00:00:00-05:00",
    )
    utc = datetime.UTC
    assert end.astimezone(utc) - start.astimezone(utc) == datetime.timedelta(hours=25)


def test_calls_today_counts_only_today(settings, db):
    from telephony.logs.today import calls_today

    now = timezone.now()
    call(1, outcome=CallOutcome.MISSED)
    call(2, at=now - datetime.timedelta(days=2), outcome=CallOutcome.MISSED)
    counts = calls_today()
    assert (counts.total, counts.missed, counts.voicemail) == (1, 1, 0)


def test_the_home_page_costs_the_same_queries_for_many_numbers(admin_client, known_data):
    """No query per number or voicemail: the live side comes from the held release."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    admin_client.get("/admin/")  # the worker now holds the release and the draft's changes
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/")
    flow = CallFlow.objects.get(slug="sales")
    for n in range(30):
        PhoneNumber.objects.create(number=f"+1415555{n:04d}", call_flow=flow)
        voicemail(known_data["front"], 100 + n)
    admin_client.get("/admin/")
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get("/admin/")
    assert len(many) == len(few) < 25, [q["sql"] for q in many.captured_queries]
    assert "33 unheard" in section(response, "voicemail")
