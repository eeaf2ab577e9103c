"""End to end in a real headless Chromium: build a menu in the admin and call it.

Drives Debian's /usr/bin/chromium (or $CHROMIUM) with Playwright against pytest-django's
live server. Where no Chromium is installed the test is skipped, except on CI (CI=true),
where a missing browser is a failure: .ci/run installs it. Screenshots go to
test-artifacts/ (kept by CI, ignored by git).
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from telephony.models import CallFlow, MenuOption

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


@contextmanager
def browser_page(executable):
    """A page in headless Chromium. Use no ORM inside: Playwright's sync API runs its
    event loop in greenlets, where Django would open (and leave open) another connection."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            yield context.new_page()
        finally:
            browser.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def add_step(page, index, verb, **fields):
    page.click("#steps-group .add-row a")
    prefix = f"#id_steps-{index}-"
    page.select_option(f"{prefix}verb", verb)
    for name, value in fields.items():
        page.fill(f"{prefix}{name}", value)


def pick_autocomplete(page, field_id, text):
    """Choose `text` in a Django admin autocomplete (select2) widget."""
    page.click(f"#{field_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-results__option:has-text('{text}')")


def save_and_continue(page):
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist")


def test_build_a_menu_and_call_it(live_server, chromium, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    with browser_page(chromium) as page:
        build_and_call(page, live_server.url)
    front = CallFlow.objects.get(name="Front desk")
    option = MenuOption.objects.select_related("target_flow").get(flow=front)
    assert (option.digits, option.target_flow.name) == ("1", "Sales desk")


def build_and_call(page, url):
    # Log in.
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")

    # The flow the menu leads to.
    page.goto(f"{url}/admin/telephony/callflow/add/")
    page.fill("#id_name", "Sales desk")
    add_step(page, 0, "say", text="Welcome to sales.")
    add_step(page, 1, "hangup")
    save_and_continue(page)

    # The menu: a prompt, a one-key Gather, option 1 -> Sales desk.
    page.goto(f"{url}/admin/telephony/callflow/add/")
    page.fill("#id_name", "Front desk")
    add_step(page, 0, "say", text="Hello from the front desk.")
    add_step(page, 1, "gather", text="For sales, press 1.", num_digits="1")
    page.click("#options-group .add-row a")
    page.fill("#id_options-0-digits", "1")
    pick_autocomplete(page, "id_options-0-target_flow", "Sales desk")
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
    shot(page, "01-front-desk-flow")
    diagram.scroll_into_view_if_needed()
    diagram.screenshot(path=str(ARTIFACTS / "02-front-desk-diagram.png"))

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
