"""The dashboard in a real headless Chromium (tests/test_browser.py's harness): its SVG
charts draw under the Content-Security-Policy, coloured by the static stylesheet in the
admin's light and dark themes."""

import pytest
from django.utils import timezone

from telephony.models import CallEvent, CallLog, PhoneNumber
from tests.test_browser import browser_page, chromium, shot  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FILL = "sel => getComputedStyle(document.querySelector(sel)).fill"


def test_the_dashboard_draws_in_light_and_dark(live_server, chromium, django_user_model):  # noqa: F811
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    PhoneNumber.objects.create(number="+15005550006", friendly_name="Main")
    for n, outcome in enumerate(["answered", "answered", "voicemail", "abandoned"]):
        log = CallLog.objects.create(
            sid=f"CA{n:032x}", direction="inbound", to_number="+15005550006", outcome=outcome
        )
        CallEvent.objects.create(
            call_sid=log.sid, kind="input", at=timezone.now(), flow="main-menu", option="1"
        )
    problems = []
    with browser_page(chromium, problems) as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-for-tests")
        page.click("input[type=submit]")
        page.wait_for_selector("svg.chart")
        # Per day, per hour, outcomes, one menu, heat map, texts (no broadcast, no voicemail).
        assert page.locator("svg.chart").count() == 6
        assert "4 calls, 2 answered" in " ".join(page.inner_text(".dashboard-summary").split())
        assert "chose 1" in page.inner_text("#chart-menu_options")
        light = page.evaluate(FILL, "#chart-outcomes rect.series-0")
        shot(page, "08-dashboard")
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate(FILL, "#chart-outcomes rect.series-0")
        text = page.evaluate(FILL, "#chart-outcomes text.chart-label")
        shot(page, "08-dashboard-dark")
        assert problems == [], "\n".join(problems)
    assert light.startswith("rgb(") and dark.startswith("rgb(")
    assert light != dark  # the admin's variables follow the theme
    assert "rgb(0, 0, 0)" not in (light, dark, text)  # the stylesheet applied: not SVG's black
