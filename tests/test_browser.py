"""End to end in a real headless Chromium: build a menu in the admin and call it.

Drives Debian's /usr/bin/chromium (or $CHROMIUM) with Playwright against pytest-django's
live server. Where no Chromium is installed the test is skipped, except on CI (CI=true),
where a missing browser is a failure: .ci/run installs it. Screenshots go to
test-artifacts/ (kept by CI, ignored by git).

The pages run under the site's Content-Security-Policy (config/settings/base.py). The
browser reports every violation (a `securitypolicyviolation` event), console error,
uncaught exception and dialog (an alert() that ran) to the test, which fails on any: an
admin page that needs inline script or style would break under the policy, and the test
says which page and what.
"""

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from telephony.models import CallFlow, MenuOption
from tests.test_diagram import XSS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    return None


@pytest.fixture
def chromium():
    missing = _missing()
    if missing:
        if ON_CI:
            pytest.fail(f"CI must run the browser test, but {missing}")
        pytest.skip(missing)
    return CHROMIUM


# Runs in every page before the page's own scripts (Playwright injects it through the
# DevTools protocol, which the page's CSP does not govern) and hands each violation to
# the test through an exposed function.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation({
    page: document.location.pathname,
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: `${event.sourceFile}:${event.lineNumber}`,
    sample: event.sample,
  });
});
"""


def console(message, page, problems):
    """Console errors are problems; but the favicon.ico the browser asks for by itself
    (the admin names none) answers 404, a message with the favicon's URL as its source."""
    source = message.location.get("url", "")
    if message.type == "error" and not source.endswith("/favicon.ico"):
        problems.append(f"console error on {page.url} ({source}): {message.text}")


@contextmanager
def browser_page(executable, problems):
    """A page in headless Chromium; CSP violations, console errors, uncaught exceptions
    and dialogs are appended to `problems`. Use no ORM inside: Playwright's sync API runs
    its event loop in greenlets, where Django would open (and leave open) another
    connection."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            context.expose_function(
                "reportViolation", lambda report: problems.append(f"CSP violation: {report}")
            )
            context.add_init_script(REPORT_VIOLATIONS)
            page = context.new_page()
            page.on("console", lambda message: console(message, page, problems))
            page.on("pageerror", lambda error: problems.append(f"uncaught on {page.url}: {error}"))

            def dialog(dialog):
                problems.append(f"dialog on {page.url}: {dialog.type} {dialog.message!r}")
                dialog.dismiss()

            page.on("dialog", dialog)
            yield page
        finally:
            browser.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def add_step(page, index, verb, **fields):
    page.click("#steps-group .add-row a")
    prefix = f"#id_steps-{index}-"
    page.select_option(f"{prefix}verb", verb)
    for name, value in fields.items():  # the editor names fields after the verb
        page.fill(f"{prefix}{verb}_{name}", value)


def pick_autocomplete(page, field_id, text):
    """Choose `text` in a Django admin autocomplete (select2) widget."""
    page.click(f"#{field_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def save_and_continue(page):
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist")


def visible_step_groups(page, index) -> set[str]:
    """The `step-for-<verb>` field groups of step `index` that step_fields.js shows."""
    return set(
        page.eval_on_selector_all(
            f"#steps-{index} fieldset[class*='step-for-']",
            """groups => groups
                .filter(group => !group.hidden)
                .map(group => group.querySelector('.fieldset-heading').textContent)""",
        )
    )


def test_build_a_menu_and_call_it(live_server, chromium, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    problems = []
    with browser_page(chromium, problems) as page:
        build_and_call(page, live_server.url)
        visit_the_other_pages(page, live_server.url)
        assert problems == [], "\n".join(problems)
        csp_is_enforced(page, problems)
    front = CallFlow.objects.get(name="Front desk")
    option = MenuOption.objects.select_related("target_flow").get(flow=front)
    assert (option.digits, option.target_flow.name) == ("1", "Sales desk")
    assert CallFlow.objects.get(name="Sales desk").description == XSS


OTHER_PAGES = [
    "/admin/",
    "/admin/telephony/callflow/",
    "/admin/telephony/phonenumber/add/",
    "/admin/telephony/verifiedcallerid/add/",
    "/admin/telephony/calllog/",
    "/admin/telephony/calllog/start-test-call/",
    "/admin/telephony/messagelog/",
    "/admin/telephony/messagelog/send-test-sms/",
    "/admin/telephony/optout/add/",
    "/admin/telephony/release/",
    "/admin/telephony/release/publish/",
    "/admin/telephony/testcaller/add/",
]


def visit_the_other_pages(page, url):
    """Our other admin pages load under the policy (problems are recorded as they come),
    and their scripts run: the number page's flow picker becomes a select2 widget."""
    for path in OTHER_PAGES:
        page.goto(f"{url}{path}")
        page.wait_for_selector("#content")
        if path == "/admin/telephony/phonenumber/add/":
            page.wait_for_selector("#id_call_flow + .select2")
            page.click("#sms_rules-group .add-row a")  # inlines.js adds a row
            page.wait_for_selector("#id_sms_rules-0-keyword")


def csp_is_enforced(page, problems):
    """The policy is really in force, and the test would see a page break it: inline
    script and style injected into the page are refused, and reported."""
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineScriptRan = true";
        document.body.append(script);
        document.body.insertAdjacentHTML("beforeend", '<p id="styled" style="color: red">x</p>');
    }"""
    )
    page.wait_for_function("() => document.getElementById('styled')")
    assert page.evaluate("() => window.inlineScriptRan") is None
    color = page.evaluate("() => getComputedStyle(document.getElementById('styled')).color")
    assert color != "rgb(255, 0, 0)"
    page.wait_for_timeout(200)  # violation reports travel asynchronously
    directives = " ".join(problems)
    assert "'directive': 'script-src-elem'" in directives, problems
    assert "'directive': 'style-src-attr'" in directives, problems


def build_and_call(page, url):
    # Log in.
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    # The flow the menu leads to; its description is the diagram's tooltip, here an attempt
    # to put a javascript: link in the diagram (telephony/tools/diagram.py).
    page.goto(f"{url}/admin/telephony/callflow/add/")
    page.fill("#id_name", "Sales desk")
    page.fill("#id_description", XSS)
    add_step(page, 0, "say", text="Welcome to sales.")
    # step_fields.js (a static file, allowed by script-src 'self') shows a Say step's
    # groups only, and a Gather's when the verb changes.
    assert visible_step_groups(page, 0) == {"Say step"}
    page.select_option("#id_steps-0-verb", "gather")
    assert visible_step_groups(page, 0) == {"Gather (menu) step"}
    page.select_option("#id_steps-0-verb", "say")
    assert visible_step_groups(page, 0) == {"Say step"}
    add_step(page, 1, "hangup")
    assert visible_step_groups(page, 1) == set()
    save_and_continue(page)

    # The menu: a prompt, a one-key Gather, option 1 -> Sales desk.
    page.goto(f"{url}/admin/telephony/callflow/add/")
    page.fill("#id_name", "Front desk")
    add_step(page, 0, "say", text="Hello from the front desk.")
    add_step(page, 1, "gather", text="For sales, press 1.", num_digits="1")
    page.click("#options-group .add-row a")
    page.fill("#id_options-0-digits", "1")
    page.fill("#id_options-0-goes_to_0", "Sales desk")  # typed: no pop-up, no select2
    save_and_continue(page)
    assert "was added successfully" in page.inner_text("ul.messagelist")

    # The TwiML preview and the diagram of the saved flow.
    preview = page.inner_text("pre.twiml-preview")
    assert '<Gather action="' in preview and 'numDigits="1"' in preview
    assert "For sales, press 1." in preview
    diagram = page.locator(".flow-diagram svg")
    assert diagram.is_visible()
    diagram_text = diagram.text_content()
    assert "Front desk" in diagram_text and "Sales desk" in diagram_text
    assert "press 1" in diagram_text
    links = diagram.locator("a").evaluate_all(
        "links => links.map(a => a.getAttribute('xlink:href') || a.getAttribute('href'))"
    )
    assert links and all(link.startswith("/admin/") for link in links), links
    shot(page, "01-front-desk-flow")
    diagram.scroll_into_view_if_needed()
    diagram.screenshot(path=str(ARTIFACTS / "02-front-desk-diagram.png"))
    # Clicking Sales desk's box (its tooltip the payload) opens its page and runs nothing.
    sales_desk = diagram.locator("a", has_text="Sales desk")
    href = sales_desk.evaluate("a => a.getAttribute('xlink:href')")
    sales_desk.click()
    page.wait_for_url(f"{url}{href}")
    assert page.input_value("#id_name") == "Sales desk"
    page.go_back()
    page.wait_for_selector(".flow-diagram svg")

    # The simulator: it greets, waits at the menu; press 1 and reach sales.
    page.click("a.simulate-link")
    page.wait_for_selector("#transcript")
    transcript = page.inner_text("#transcript")
    assert 'Says: "Hello from the front desk."' in transcript
    assert "Waits 5 s for 1 key" in transcript
    assert "Waiting for the caller..." in transcript
    shot(page, "03-simulator-waiting")
    page.click("button[name=key][value='1']")
    page.wait_for_selector("#transcript li.sim-end")
    lines = page.locator("#transcript li").all_inner_texts()
    assert "Caller presses 1" in lines
    assert 'Says: "Welcome to sales."' in lines
    assert lines[-1] == "Hangs up: the call is over (<Hangup>)."
    assert page.locator("button[name=key]").count() == 0
    shot(page, "04-simulator-pressed-1")

    publish_from_the_flow_page(page, url)


def publish_from_the_flow_page(page, url):
    """The flow page says the draft is unpublished; its link leads to Publish changes,
    which lists the changes in words; publishing lands on the new release's page."""
    page.goto(f"{url}/admin/telephony/callflow/")
    notice = page.inner_text(".draft-notice")
    assert "nothing is published yet" in notice, notice
    page.click(".draft-notice a")
    page.wait_for_selector("#publish_form")
    changes = page.locator("#draft-changes li").all_inner_texts()
    assert any('Flow "Front desk" added' in line for line in changes), changes
    page.fill("#id_note", "First menu")
    shot(page, "05-publish-changes")
    page.click("input[name=publish]")
    page.wait_for_selector("ul.messagelist")
    assert "Release 1" in page.inner_text("#content")
    assert "First menu" in page.inner_text("#content")
    assert page.locator(".flow-diagram svg").count() >= 1
    shot(page, "06-release-1")


def test_the_inbox_plays_a_voicemail(live_server, chromium, django_user_model, fake_twilio):
    """The inbox's player loads the recording through our stream (never from Twilio
    directly): the browser gets audio, HTTP 200 or 206, and can read its length."""
    from telephony.models import Voicemail, VoicemailBox

    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    box = VoicemailBox.objects.create(name="Front desk")
    sid = "RE" + "e" * 32
    Voicemail.objects.create(
        box=box,
        recording_sid=sid,
        recording_url=fake_twilio.add_recording(sid, seconds=1.5),
        caller="+14155551234",
        duration=2,
        transcript="Please call me back.",
    )
    problems = []
    with browser_page(chromium, problems) as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/telephony/voicemail/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-for-tests")
        page.click("input[type=submit]")
        page.wait_for_selector("audio.voicemail-player")
        assert "Please call me back." in page.inner_text("#result_list")
        src = page.get_attribute("audio.voicemail-player", "src")
        assert src.startswith("/admin/telephony/voicemail/") and "twilio" not in src
        with page.expect_response(lambda r: r.url.endswith(src)) as caught:
            page.eval_on_selector(
                "audio.voicemail-player", "a => { a.preload = 'auto'; a.load(); }"
            )
        response = caught.value
        assert response.status in (200, 206)
        assert response.headers["content-type"].startswith("audio/")
        page.wait_for_function(
            "() => document.querySelector('audio.voicemail-player').duration > 1"
        )
        shot(page, "07-voicemail-inbox")
        assert problems == [], "\n".join(problems)


def log_in(page, url, username="boss", password="pw-for-tests", *, next_path="/admin/"):
    page.goto(f"{url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def text_colour(page, selector) -> tuple[int, ...]:
    colour = page.eval_on_selector(selector, "e => getComputedStyle(e).color")
    return tuple(int(part) for part in re.findall(r"\d+", colour)[:3])


def test_the_home_page_starts_staff_off(live_server, chromium, django_user_model):
    """The admin home (telephony/admin/home.py) under the CSP, in light and dark mode:
    a new install says where to start; creating a flow from a template there opens it;
    with numbers, changes, voicemails and calls, each section shows them."""
    from django.core.management import call_command

    from telephony.models import PhoneNumber, Voicemail, VoicemailBox

    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    problems = []
    with browser_page(chromium, problems) as page:
        log_in(page, live_server.url)
        assert page.inner_text("#site-name").strip() == "Switchboard"
        assert page.title() == "Your phone line | Switchboard"
        assert "Start here" in page.inner_text("#sb-start-here")
        shot(page, "08-home-new-install")
        page.click("#sb-start-here a:has-text('Create a flow from a template')")
        page.fill("#id_name", "Support line")
        # from_template.js shows only the fields of the template chosen.
        page.check("input[name=template][value=forward_voicemail]")
        assert page.is_visible("#id_forward_to") and not page.is_visible("#id_address")
        page.check("input[name=template][value=text_address]")
        assert page.is_visible("#id_address") and not page.is_visible("#id_forward_to")
        page.check("input[name=template][value=menu]")
        assert not page.is_visible("#id_forward_to") and not page.is_visible("#id_schedule")
        shot(page, "08b-flow-from-template")
        page.click("input[type=submit]")
        page.wait_for_selector("ul.messagelist")
        assert "Created the flow 'Support line'" in page.inner_text("ul.messagelist")
        assert page.input_value("#id_name") == "Support line"
        assert problems == [], "\n".join(problems)
    assert CallFlow.objects.get(name="Support line").steps.count() == 2

    call_command("loaddata", "demo", verbosity=0)
    from tests.factories import publish

    publish("The demo.")
    number = PhoneNumber.objects.get(number="+15005550006")
    number.call_flow = CallFlow.objects.get(name="Support line")
    number.save()
    Voicemail.objects.create(
        box=VoicemailBox.objects.get(name="Front desk"),
        recording_sid="RE" + "a" * 32,
        caller="+14155550123",
    )
    with browser_page(chromium, problems) as page:
        log_in(page, live_server.url)
        numbers = page.inner_text("#sb-numbers")
        assert "Callers get Main menu." in numbers and "After you publish: Support line." in numbers
        assert "Publish changes" in page.inner_text("#sb-changes")
        assert "1 unheard" in page.inner_text("#sb-voicemail")
        assert "0 calls today" in page.inner_text("#sb-calls")
        light = text_colour(page, "#sb-voicemail .sb-count strong")
        shot(page, "09-home")
        page.emulate_media(color_scheme="dark")
        page.reload()
        page.wait_for_selector("#sb-numbers")
        dark = text_colour(page, "#sb-voicemail .sb-count strong")
        assert sum(dark) > sum(light) + 300, (light, dark)  # light text on the dark theme
        shot(page, "10-home-dark")
        page.click("#sb-changes a.sb-publish")
        page.wait_for_selector("#content")
        assert "/admin/telephony/release/publish/" in page.url
        assert problems == [], "\n".join(problems)
