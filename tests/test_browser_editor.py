"""The flow editor in headless Chromium, used as a receptionist would (issue 18).

`test_a_receptionist_builds_the_support_line` starts from an empty database and builds
the support line on the flow page and the pages its "Open" buttons lead to: a greeting;
1: billing, forwarded to a number with voicemail if nobody answers; 2: opening hours.
Every click and typed field goes through `Receptionist`, which counts them; the counts
are printed and saved to test-artifacts/editor-clicks.json, with the screenshots
(test-artifacts/editor-*.png). Then it simulates a call and publishes.

`test_the_editors_scripts` checks what the editor's static scripts do: only the chosen
verb's fields show, Up/Down reorder (and the save keeps that order), Listen speaks through
the Web Speech API and is hidden in a browser without it.

Same rules as tests/test_browser.py: the site's CSP is in force, and every violation,
console error, uncaught exception or dialog fails the test.
"""

import json
from dataclasses import dataclass, field

import pytest

from telephony.models import CallFlow, MenuOption, Release, Step
from tests.test_browser import ARTIFACTS, ON_CI, _missing, browser_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chromium():
    """Debian's Chromium, as in tests/test_browser.py (skipped without it, except on CI)."""
    from tests.test_browser import CHROMIUM

    missing = _missing()
    if missing:
        if ON_CI:
            pytest.fail(f"CI must run the browser test, but {missing}")
        pytest.skip(missing)
    return CHROMIUM


CLICK_BUDGET = 12  # the aim: one page, at most 12 clicks besides typing


@dataclass
class Receptionist:
    """Drives the page and counts: clicks (a choice in a drop-down counts as one) and
    typed fields, per phase."""

    page: object
    phase: str = "build"
    clicks: dict = field(default_factory=dict)
    typed: dict = field(default_factory=dict)
    log: list = field(default_factory=list)

    def click(self, selector, why):
        self.page.click(selector)
        self._count(self.clicks, f"click: {why}")

    def choose(self, selector, value, why):
        self.page.select_option(selector, value)
        self._count(self.clicks, f"choose: {why}")

    def type(self, selector, text):
        self.page.fill(selector, text)
        self._count(self.typed, f"type: {text}")

    def _count(self, counter, entry):
        counter[self.phase] = counter.get(self.phase, 0) + 1
        self.log.append(f"{self.phase}: {entry}")


def log_in(page, url):
    page.goto(f"{url}/admin/login/?next=/admin/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    page.wait_for_selector("#content")


def test_a_receptionist_builds_the_support_line(live_server, chromium, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    assert not CallFlow.objects.exists()
    problems = []
    with browser_page(chromium, problems) as page:
        url = live_server.url
        log_in(page, url)
        me = Receptionist(page)
        build_the_support_line(me, url)
        me.phase = "simulate"
        simulate_a_call(me)
        me.phase = "publish"
        publish(me)
        assert problems == [], "\n".join(problems)

    counts = {"clicks": me.clicks, "typed fields": me.typed, "actions": me.log}
    (ARTIFACTS / "editor-clicks.json").write_text(json.dumps(counts, indent=2))
    print(
        f"\nSupport line built with {me.clicks['build']} clicks and {me.typed['build']} typed fields"
    )
    print(json.dumps(counts, indent=2))
    assert me.clicks["build"] <= CLICK_BUDGET, me.log

    # What the pages built, as stored.
    support = CallFlow.objects.get(name="Support line")
    assert list(support.steps.values_list("position", "verb", "text")) == [
        (1, "say", "Thank you for calling Acme."),
        (2, "gather", "For billing, press 1. For our opening hours, press 2."),
    ]
    options = {o.digits: o.target_flow.name for o in MenuOption.objects.filter(flow=support)}
    assert options == {"1": "Billing", "2": "Opening hours"}
    billing = CallFlow.objects.get(name="Billing")
    dial = billing.steps.get(verb=Step.Verb.DIAL)
    assert (dial.dial_target, dial.next_flow.name) == ("+14155550142", "Billing voicemail")
    assert dial.next_flow.steps.filter(verb=Step.Verb.RECORD).exists()
    hours = CallFlow.objects.get(name="Opening hours")
    assert list(hours.steps.values_list("verb", "text")) == [
        ("say", "We are open Monday to Friday, 9 to 5. Goodbye.")
    ]
    assert Release.objects.count() == 1


def build_the_support_line(me, url):
    page = me.page
    me.click("a[href='/admin/telephony/callflow/add/']", "Add (call flows)")
    page.wait_for_selector("#id_name")
    me.type("#id_name", "Support line")
    # 1. The greeting: a new step is a Say.
    me.click("#steps-group .add-row a", "Add another step")
    assert page.inner_text("#steps-0 .step-number") == "1."  # never 0
    me.type("#id_steps-0-say_text", "Thank you for calling Acme.")
    # 2. The menu.
    me.click("#steps-group .add-row a", "Add another step")
    me.choose("#id_steps-1-verb", "gather", "Gather (menu)")
    assert page.inner_text("#steps-1 .step-number") == "2."
    me.type("#id_steps-1-gather_text", "For billing, press 1. For our opening hours, press 2.")
    me.type("#id_steps-1-gather_num_digits", "1")
    # Its options, to flows that do not exist yet: typed by name.
    me.click("#options-group .add-row a", "Add another menu option")
    me.type("#id_options-0-digits", "1")
    me.type("#id_options-0-goes_to_0", "Billing")
    me.choose("#id_options-0-goes_to_1", "forward_voicemail", "template: forward")
    assert "new flow: Billing" in page.inner_text("#options-0 .flow-target-hint")
    me.click("#options-group .add-row a", "Add another menu option")
    me.type("#id_options-1-digits", "2")
    me.type("#id_options-1-goes_to_0", "Opening hours")
    shot(page, "editor-01-support-line-typed")

    # Open Billing: saves the menu (creating Billing from its template) and opens it.
    me.click("#options-0 .flow-target-open", "Open (Billing)")
    page.wait_for_selector("#back-link")
    assert page.input_value("#id_name") == "Billing"
    assert "Back to Support line" in page.inner_text("#back-link")
    assert page.locator("#steps-1 .step-title").inner_text().startswith("Dial: +1")
    me.type("#id_steps-1-dial_dial_target", "+14155550142")
    shot(page, "editor-02-billing")
    me.click("#save-and-back", "Save and back to Support line")
    page.wait_for_selector("#options-1")
    assert page.input_value("#id_name") == "Support line"

    # Open Opening hours (an empty flow) and say the hours.
    me.click("#options-1 .flow-target-open", "Open (Opening hours)")
    page.wait_for_selector("#back-link")
    assert page.input_value("#id_name") == "Opening hours"
    me.click("#steps-group .add-row a", "Add another step")
    me.type("#id_steps-0-say_text", "We are open Monday to Friday, 9 to 5. Goodbye.")
    me.click("#save-and-back", "Save and back to Support line")
    page.wait_for_selector("#options-1")
    assert page.locator("#steps-0 .step-title").inner_text() == ("Say: Thank you for calling Acme.")
    shot(page, "editor-03-support-line-saved")


def simulate_a_call(me):
    page = me.page
    me.click("a.simulate-link", "Simulate a call")
    page.wait_for_selector("#transcript")
    assert 'Says: "Thank you for calling Acme."' in page.inner_text("#transcript")
    me.click("button[name=key][value='1']", "press 1")
    page.wait_for_selector("#transcript li.sim-end")
    transcript = page.inner_text("#transcript")
    assert "Dials number +14155550142" in transcript  # rings billing, nobody answers...
    assert "Records (beep" in transcript  # ...voicemail
    shot(page, "editor-04-simulated-billing")
    me.click(".breadcrumbs a:has-text('Support line')", "back to the flow")


def publish(me):
    page = me.page
    page.wait_for_selector("#save-and-publish")
    me.click("#save-and-publish", "Save and publish")
    page.wait_for_selector("#publish_form")
    changes = page.inner_text("#draft-changes")
    assert 'Flow "Support line" added' in changes, changes
    shot(page, "editor-05-publish")
    me.click("input[name=publish]", "Publish")
    page.wait_for_selector("ul.messagelist")
    assert "Release 1" in page.inner_text("#content")
    shot(page, "editor-06-release-1")


SPY_ON_SPEECH = """
if (window.speechSynthesis) {
  window.spoken = [];
  window.speechSynthesis.speak = (utterance) => window.spoken.push([utterance.text, utterance.lang]);
}
"""
NO_SPEECH = "Object.defineProperty(window, 'speechSynthesis', {value: undefined});"


def test_the_editors_scripts(live_server, chromium, django_user_model):
    django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-for-tests")
    flow = CallFlow.objects.create(name="Front", slug="front")
    for position, text in enumerate(["first", "second", "third"], start=1):
        Step.objects.create(flow=flow, position=position, verb="say", text=text)
    change = f"{live_server.url}/admin/telephony/callflow/{flow.pk}/change/"
    problems = []
    with browser_page(chromium, problems) as page:
        page.context.add_init_script(SPY_ON_SPEECH)
        log_in(page, live_server.url)
        page.goto(change)
        # Numbered as shown, in staff words; the Order boxes are replaced by Up/Down.
        titles = page.locator("#steps-group .step-row:not(.empty-form) h3").all_inner_texts()
        assert [t.split("\n")[0].split("  ")[0] for t in titles][0].startswith("1. Say: first")
        assert not page.is_visible("#id_steps-0-position")
        # Only the chosen verb's fields show; switching the verb switches them.
        visible = page.locator("#steps-0 fieldset.step-verb-fields:visible h4")
        assert visible.all_inner_texts() == ["Say step"]
        page.select_option("#id_steps-2-verb", "pause")
        assert page.locator("#steps-2 fieldset.step-verb-fields:visible h4").all_inner_texts() == [
            "Pause step"
        ]
        assert page.is_visible("#id_steps-2-pause_length")
        assert not page.is_visible("#id_steps-2-say_text")
        page.select_option("#id_steps-2-verb", "say")
        # Listen speaks the text in the browser.
        page.fill("#id_steps-0-say_language", "en-GB")
        page.click("#steps-0 .listen-button")
        assert page.evaluate("window.spoken") == [["first", "en-GB"]]
        page.fill("#id_steps-0-say_language", "")
        # Move "third" to the top: Up twice; the numbers follow.
        page.click("#steps-2 .step-up")
        page.click("#steps-2 .step-up")
        numbers = page.locator("#steps-group .step-row:not(.empty-form) .step-number")
        assert numbers.all_inner_texts() == ["1.", "2.", "3."]
        assert page.inner_text("#steps-group .step-row >> nth=0").startswith("1.")
        shot(page, "editor-07-reordered")
        page.click("input[name=_continue]")
        page.wait_for_selector("ul.messagelist")
        titles = page.locator("#steps-group .step-row:not(.empty-form) .step-title")
        assert titles.all_inner_texts() == ["Say: third", "Say: first", "Say: second"]

        # A browser without speech synthesis: no Listen button.
        page.context.add_init_script(NO_SPEECH)
        page.goto(change)
        page.wait_for_selector("#steps-0")
        assert page.locator(".listen-button:visible").count() == 0
        assert problems == [], "\n".join(problems)
    assert list(flow.steps.values_list("text", flat=True)) == ["third", "first", "second"]
