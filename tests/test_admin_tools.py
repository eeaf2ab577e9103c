"""Checks, diagram and simulator in the real admin, through Django's test client."""

import json
import re
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth.models import Permission, User

from telephony.models import CallFlow, PhoneNumber, Step
from telephony.releases import publishing
from telephony.tools import diagram
from tests.factories import make_flow, make_number
from tests.test_admin import flow_form

pytestmark = pytest.mark.django_db

needs_graphviz = pytest.mark.skipif(
    diagram.layout_program() is None, reason="no Graphviz program (pip install graphviz-pure)"
)


def change_url(flow):
    return f"/admin/telephony/callflow/{flow.pk}/change/"


def simulate_url(obj):
    model = "callflow" if isinstance(obj, CallFlow) else "phonenumber"
    return f"/admin/telephony/{model}/{obj.pk}/simulate/"


def transcript_lines(response):
    html = response.content.decode()
    return [
        re.sub(r"\s+", " ", ET.fromstring(f"<li>{item}</li>").text or "")
        for item in re.findall(r'<li class="sim-[a-z]+">(.*?)</li>', html)
    ]


def hidden(response, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    return match.group(1).replace("&quot;", '"')


# --- checks and diagram on the change page -------------------------------------------------


@needs_graphviz
def test_change_page_shows_checks_and_diagram(demo, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    html = admin_client.get(change_url(flow)).content.decode()
    assert "Problems found" in html
    start = html.index('<div class="flow-diagram">')
    svg = html[html.index("<svg", start) : html.index("</svg>", start) + 6]
    root = ET.fromstring(svg)  # well-formed SVG, inline
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"+15005550006", 'press 2 / say "voicemail"', "no answer", "no choice"} <= texts
    assert "Simulate a call" in html
    assert simulate_url(flow) in html


def test_diagram_falls_back_to_text_without_graphviz(demo, admin_client, monkeypatch):
    monkeypatch.setattr(diagram, "layout_program", lambda: None)
    flow = CallFlow.objects.get(slug="main-menu")
    html = admin_client.get(change_url(flow)).content.decode()
    assert 'class="flow-diagram"' not in html
    assert "main-menu --press 1 / say &quot;sales&quot;--&gt; sales" in html


def test_findings_become_warnings_after_save(admin_client):
    data = flow_form("Menu", "menu", steps=[{"verb": "gather", "text": "Press a key"}])
    data["_continue"] = "1"  # stay on the change page
    response = admin_client.post("/admin/telephony/callflow/add/", data, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any(
        m.startswith("Error in flow menu, step 1 (Gather): This Gather has no menu options")
        for m in shown
    ), shown
    assert any("No number, option or step leads to this flow" in m for m in shown)
    html = response.content.decode()
    assert 'class="flow-check-error"' in html


def test_no_warnings_for_a_clean_flow(admin_client):
    sales = make_flow("sales", steps=[{"verb": "hangup"}])
    flow = make_flow("menu", steps=[{"verb": "hangup"}])
    make_number("+14155550111", flow)
    data = flow_form(
        "Menu",
        "menu",
        existing_steps=[{"id": str(flow.steps.get().pk), "verb": "say", "text": "Hi"}],
        steps=[{"verb": "gather", "num_digits": "1"}],
        options=[{"digits": "1", "target_flow": str(sales.pk)}],
    )
    data["_continue"] = "1"
    response = admin_client.post(change_url(flow), data, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert not [m for m in shown if m.startswith(("Error", "Warning"))], shown
    assert "No problems found." in response.content.decode()


# --- the simulator page ------------------------------------------------------------------


def test_simulator_waits_at_the_menu_then_follows_a_key(demo, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    page = admin_client.get(simulate_url(flow))
    assert page.status_code == 200
    lines = transcript_lines(page)
    assert lines[0].startswith("Running flow 'main-menu'")
    assert lines[-1] == "Waiting for the caller..."
    assert 'name="key" value="2"' in page.content.decode()

    pressed = admin_client.post(
        simulate_url(flow),
        {
            "events": hidden(page, "events"),
            "call_sid": hidden(page, "call_sid"),
            "caller": "+14155551234",
            "dial_status": "no-answer",
            "key": "2",
        },
    )
    lines = transcript_lines(pressed)
    assert "Caller presses 2" in lines
    assert 'Says: "Thank you for your message. Goodbye."' in lines
    assert lines[-1] == "Hangs up: the call is over (<Hangup>)."
    assert json.loads(hidden(pressed, "events")) == ["k:2"]
    assert hidden(pressed, "call_sid") == hidden(page, "call_sid")
    assert 'name="key"' not in pressed.content.decode()  # the call is over: no keypad


def test_simulator_multi_key_option_shows_keys_so_far(admin_client):
    target = make_flow("target", steps=[{"verb": "say", "text": "Twelve"}])
    make_flow("menu", steps=[{"verb": "gather", "num_digits": 2}], options=[("12", target)])
    flow = CallFlow.objects.get(slug="menu")
    one = admin_client.post(simulate_url(flow), {"events": "[]", "key": "1"})
    assert "Pressed so far" in one.content.decode()
    two = admin_client.post(
        simulate_url(flow),
        {"events": hidden(one, "events"), "call_sid": hidden(one, "call_sid"), "key": "2"},
    )
    assert 'Says: "Twelve"' in transcript_lines(two)


def test_simulator_for_a_number_and_dial_outcome(demo, admin_client):
    number = PhoneNumber.objects.get(number="+15005550006")
    page = admin_client.post(
        simulate_url(number), {"events": '["k:1"]', "dial_status": "completed"}
    )
    lines = transcript_lines(page)
    assert lines[0] == "Calling +15005550006 from +14155551234 (the draft)"
    assert (
        "Dials number +14155550100, number +14155550101 (timeout 20 s, screened: the person answering must press 1): completed"
        in lines
    )
    assert (
        "Simulate a call"
        in admin_client.get(f"/admin/telephony/phonenumber/{number.pk}/change/").content.decode()
    )


def test_simulator_shows_bad_input_without_failing(demo, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    page = admin_client.post(
        simulate_url(flow), {"events": "not json", "caller": "nope", "dial_status": "x"}
    )
    assert page.status_code == 200
    assert "&#x27;nope&#x27; is not a phone number to call from" in page.content.decode()


def test_simulator_restart_forgets_the_keys(demo, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    page = admin_client.post(simulate_url(flow), {"events": '["k:2"]', "restart": "1"})
    assert transcript_lines(page)[-1] == "Waiting for the caller..."
    assert json.loads(hidden(page, "events")) == []


def test_simulator_needs_view_permission(demo, client):
    flow = CallFlow.objects.get(slug="main-menu")
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(simulate_url(flow)).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_callflow"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert client.get(simulate_url(flow)).status_code == 200


def test_simulator_requires_login(demo, client):
    flow = CallFlow.objects.get(slug="main-menu")
    response = client.get(simulate_url(flow))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_simulator_for_a_missing_flow_redirects(admin_client):
    response = admin_client.get("/admin/telephony/callflow/999/simulate/")
    assert response.status_code == 302


# --- which release the simulators play ---------------------------------------------------


def edit_greeting(text):
    step = Step.objects.get(flow__slug="main-menu", position=1)
    step.text = text
    step.save()


def test_simulator_plays_the_draft_by_default_and_the_live_release_on_request(demo, admin_client):
    publishing.publish(note="demo")
    edit_greeting("Welcome to the new Switchboard.")  # not published
    flow = CallFlow.objects.get(slug="main-menu")

    draft = admin_client.get(simulate_url(flow))
    lines = transcript_lines(draft)
    assert lines[0].startswith("Running flow 'main-menu' of the draft")
    assert 'Says: "Welcome to the new Switchboard."' in lines
    assert 'Says: "Thank you for calling the Switchboard demo."' not in lines
    html = draft.content.decode()
    assert '<option value="draft" selected>' in html
    assert '<option value="live">The live release (release 1)</option>' in html
    assert '<option value="1">Release 1 (live)</option>' in html

    live = admin_client.post(simulate_url(flow), {"events": "[]", "release": "live"})
    lines = transcript_lines(live)
    assert lines[0].startswith("Running flow 'main-menu' of the live release")
    assert 'Says: "Thank you for calling the Switchboard demo."' in lines
    assert 'Says: "Welcome to the new Switchboard."' not in lines
    assert '<option value="live" selected>' in live.content.decode()

    # A key press keeps the release chosen (the select rides along with the keys).
    pressed = admin_client.post(
        simulate_url(flow),
        {
            "events": hidden(live, "events"),
            "call_sid": hidden(live, "call_sid"),
            "release": "1",
            "key": "2",
        },
    )
    lines = transcript_lines(pressed)
    assert lines[0].startswith("Running flow 'main-menu' of release 1")
    assert "Caller presses 2" in lines


def test_number_simulator_plays_any_release(demo, admin_client):
    publishing.publish(note="demo")
    edit_greeting("Second greeting.")
    publishing.publish(note="second")
    edit_greeting("Third greeting, unpublished.")
    number = PhoneNumber.objects.get(number="+15005550006")

    def greeting(release):
        page = admin_client.post(simulate_url(number), {"events": "[]", "release": release})
        return [line for line in transcript_lines(page) if line.startswith("Says")][0]

    assert greeting("draft") == 'Says: "Third greeting, unpublished."'
    assert greeting("live") == 'Says: "Second greeting."'
    assert greeting("2") == 'Says: "Second greeting."'
    assert greeting("1") == 'Says: "Thank you for calling the Switchboard demo."'
    # No release 9: the webhook answers as it would answer Twilio, politely.
    missing = admin_client.post(simulate_url(number), {"events": "[]", "release": "9"})
    assert 'Says: "Sorry, this number is not in service. Goodbye."' in transcript_lines(missing)


def test_live_simulation_before_anything_is_published_says_so(demo, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    page = admin_client.post(simulate_url(flow), {"events": "[]", "release": "live"})
    assert page.status_code == 200
    assert "Nothing is published yet: there is no live release" in page.content.decode()


def test_sms_simulator_on_the_number_page_plays_draft_or_live(demo, admin_client):
    from telephony.models import SmsRule

    publishing.publish(note="demo")
    rule = SmsRule.objects.get(keyword="HOURS")
    rule.reply = "Open every day, 8 to 8."
    rule.save()
    number = PhoneNumber.objects.get(number="+15005550006")
    url = f"/admin/telephony/phonenumber/{number.pk}/simulate-sms/"
    change = admin_client.get(f"/admin/telephony/phonenumber/{number.pk}/change/")
    assert url in change.content.decode()

    page = admin_client.get(url)
    assert page.status_code == 200
    assert '<option value="draft" selected>' in page.content.decode()
    draft = transcript_lines(admin_client.post(url, {"body": "hours", "release": "draft"}))
    assert "You: hours" in draft
    assert "Reply: Open every day, 8 to 8." in draft
    live = transcript_lines(admin_client.post(url, {"body": "hours", "release": "live"}))
    assert "Reply: We are open Monday to Friday, 9am to 5pm Pacific time." in live
    empty = admin_client.post(url, {"body": "  ", "release": "live"})
    assert "Type the message to send." in empty.content.decode()


def test_the_simulator_page_plays_another_time_for_open_hours(demo, admin_client):
    number = PhoneNumber.objects.get(number="+15005550006")
    christmas = transcript_lines(
        admin_client.post(simulate_url(number), {"events": "[]", "at": "2026-12-25 10:00"})
    )
    assert any(line.startswith("Closed (Office hours: Christmas Day") for line in christmas)
    weekday = transcript_lines(
        admin_client.post(simulate_url(number), {"events": "[]", "at": "2026-12-23 10:00"})
    )
    assert any(line.startswith("Open now (Office hours") for line in weekday), weekday
    page = admin_client.post(simulate_url(number), {"events": "[]", "at": "Christmas"})
    assert "is not a date and time" in page.content.decode()
