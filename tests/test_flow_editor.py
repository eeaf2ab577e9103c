"""The one-page flow editor's form logic, through the real admin (Django's test client):
per-verb fields and validation, targets typed by name and created on save (from a
template), reordering, every error of a save at once, the editor's buttons, no 500s."""

import re

import pytest

from telephony.models import CallFlow, MenuOption, Step
from tests.factories import make_flow
from tests.test_admin import flow_form

pytestmark = pytest.mark.django_db

ADD = "/admin/telephony/callflow/add/"


def change_url(flow) -> str:
    return f"/admin/telephony/callflow/{flow.pk}/change/"


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    return re.sub(r"\s+", " ", response.content.decode())


def errors_of(response) -> list[str]:
    """The error messages on a re-displayed form, in page order."""
    html = response.content.decode()
    return [
        re.sub(r"<[^>]+>|\s+", " ", item).strip()
        for block in re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
        for item in re.findall(r"<li>(.*?)</li>", block, re.S)
    ]


def field_errors(response, form_field: str) -> list[str]:
    """The errors Django put next to one field (its error list names the field's id)."""
    html = response.content.decode()
    blocks = re.findall(
        rf'<ul class="errorlist" id="id_{re.escape(form_field)}_error">(.*?)</ul>', html, re.S
    )
    return [
        re.sub(r"<[^>]+>", "", li).strip()
        for b in blocks
        for li in re.findall(r"<li>(.*?)</li>", b, re.S)
    ]


# --- each step shows and keeps only its verb's fields ---------------------------------------


def test_every_verbs_fieldset_is_rendered_each_marked_with_its_verb(admin_client):
    page = admin_client.get(ADD).content.decode()
    for verb in ["say", "play", "pause", "gather", "dial", "record", "hours", "sms"]:
        assert f"step-for-{verb}" in page, verb
    # One help text per field and verb: a Dial's timeout is about ringing, a menu's about
    # waiting, and no help text speaks for several verbs at once.
    assert "Seconds to ring" in page and "For the caller to answer (default 5)." in page
    assert "Redirect: the flow to go to. Record:" not in page
    assert "Dial: when nobody answers" not in page


def test_the_slug_help_shows_the_url_pattern_literally(admin_client):
    page = admin_client.get(ADD).content.decode()
    assert "/twilio/voice/flows/&lt;slug&gt;/" in page


def test_new_steps_never_show_position_0(admin_client):
    page = admin_client.get(ADD).content.decode()
    position = re.search(r'<input[^>]+name="steps-__prefix__-position"[^>]*>', page).group(0)
    assert 'value="0"' not in position


def test_listen_buttons_on_say_text_and_gather_prompts_only(admin_client):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi"}])
    page = admin_client.get(change_url(flow)).content.decode()
    listens = re.findall(
        r'<button type="button" class="listen-button" hidden data-listen="([^"]*)"', page
    )
    assert "id_steps-0-say_text" in listens and "id_steps-0-gather_text" in listens
    assert not any("sms_text" in x or "dial_text" in x for x in listens)
    assert "telephony/listen.js" in page


def test_steps_are_numbered_and_labelled_in_staff_words(admin_client):
    flow = make_flow(
        "support",
        steps=[
            {"verb": "say", "text": "Thank you for calling Acme, we will be right with you."},
            {"verb": "dial", "dial_target": "+14155550100"},
            {"verb": "hangup"},
        ],
    )
    page = page_text(admin_client.get(change_url(flow)))
    assert (
        '<span class="step-number">1.</span> <span class="inline_label step-title">Say: Thank you for calling Acme'
        in page
    )
    assert (
        '<span class="step-number">2.</span> <span class="inline_label step-title">Dial: +14155550100</span>'
        in page
    )
    assert (
        '<span class="step-number">3.</span> <span class="inline_label step-title">Hangup</span>'
        in page
    )
    assert "support #1" not in page


def test_the_server_reads_only_the_chosen_verbs_fields(admin_client):
    data = flow_form("Quiet", "quiet", steps=[{"verb": "pause", "length": "3"}])
    # The browser sends every verb's fields; what the Say and Dial boxes hold is ignored.
    data["steps-0-say_text"] = "Not said"
    data["steps-0-dial_dial_target"] = "+14155550100"
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    step = Step.objects.get(flow__slug="quiet")
    assert (step.verb, step.length, step.text, step.dial_target) == ("pause", 3, "", "")


def test_changing_a_steps_verb_clears_what_the_old_verb_used(admin_client):
    flow = make_flow(
        "f", steps=[{"verb": "dial", "dial_target": "+14155550100", "timeout": 12, "record": True}]
    )
    step = flow.steps.get()
    data = flow_form(
        "F",
        "f",
        existing_steps=[
            {
                "id": str(step.pk),
                "flow": str(flow.pk),
                "position": "1",
                "verb": "say",
                "text": "Hello",
            }
        ],
    )
    response = admin_client.post(change_url(flow), data)
    assert response.status_code == 302, errors_of(response)
    step.refresh_from_db()
    assert (step.verb, step.text, step.dial_target, step.timeout, step.record) == (
        "say",
        "Hello",
        "",
        None,
        False,
    )


def test_a_switched_verb_keeps_the_text_it_shares(admin_client):
    """Every verb's box starts from the stored value, so Say -> Gather keeps the words."""
    flow = make_flow("f", steps=[{"verb": "say", "text": "Press 1."}])
    page = admin_client.get(change_url(flow)).content.decode()
    gather_text = re.search(
        r'<textarea name="steps-0-gather_text"[^>]*>(.*?)</textarea>', page, re.S
    )
    assert gather_text.group(1).strip() == "Press 1."


# --- per-verb validation, next to the field, all at once ------------------------------------


def test_an_added_empty_say_step_is_an_error_not_dropped(admin_client):
    flow = make_flow("f", steps=[{"verb": "hangup"}])
    step = flow.steps.get()
    data = flow_form(
        "F",
        "f",
        existing_steps=[
            {"id": str(step.pk), "flow": str(flow.pk), "position": "1", "verb": "hangup"}
        ],
        steps=[{"verb": "say"}],  # added, left as it came
    )
    response = admin_client.post(change_url(flow), data)
    assert field_errors(response, "steps-1-say_text") == [
        "This Say step has no text: type what callers hear, or remove the step."
    ]
    assert flow.steps.count() == 1


def test_an_added_empty_option_is_an_error_not_dropped(admin_client):
    data = flow_form("M", "m", steps=[{"verb": "gather", "text": "Press 1"}], options=[{}])
    response = admin_client.post(ADD, data)
    assert "Give the keys to press, the words to say, or both." in errors_of(response)
    assert "Choose the flow this option leads to." in field_errors(
        response, "options-0-goes_to_0"
    ) or ("Choose the flow this option leads to." in errors_of(response))
    assert not CallFlow.objects.filter(slug="m").exists()


def test_every_error_of_a_save_is_shown_at_once(admin_client):
    data = flow_form(
        "",
        "bad slug!",
        steps=[
            {"verb": "say"},
            {"verb": "dial", "dial_target": "12"},
            {"verb": "play"},
            {"verb": "pause", "length": "0"},
            {"verb": "hours"},
        ],
        options=[{"digits": "1"}],
    )
    response = admin_client.post(ADD, data)
    errors = errors_of(response)
    expected = [
        "This field is required.",  # the name
        "This Say step has no text: type what callers hear, or remove the step.",
        "Enter a valid phone number in E.164 format, e.g. +14155550100.",
        "Play needs the URL of the audio file.",
        "Ensure this value is greater than or equal to 1.",
        "Hours needs the schedule that says when the line is open.",
        "Choose the flow this option leads to.",
    ]
    for message in expected:
        assert message in errors, (message, errors)
    assert field_errors(response, "steps-1-dial_dial_target")
    assert field_errors(response, "steps-2-play_url")
    assert field_errors(response, "steps-3-pause_length")
    assert field_errors(response, "steps-4-hours_schedule")
    assert not CallFlow.objects.exists()


def test_options_are_checked_in_the_same_round_as_the_steps(admin_client):
    data = flow_form(
        "Menu",
        "menu",
        steps=[{"verb": "say"}, {"verb": "gather", "text": "Press 1", "num_digits": "1"}],
        options=[{"digits": "12"}],  # too long for the menu, and no target
    )
    errors = errors_of(admin_client.post(ADD, data))
    assert "This Say step has no text: type what callers hear, or remove the step." in errors
    assert any(
        "Callers cannot choose this option: the Gather stops after 1 key" in e for e in errors
    )
    assert "Choose the flow this option leads to." in errors


# --- targets typed by name, created on save -------------------------------------------------


def test_a_menu_can_be_saved_before_its_targets_exist(admin_client):
    data = flow_form(
        "Support line",
        "support-line",
        steps=[{"verb": "gather", "text": "For billing, press 1.", "num_digits": "1"}],
        options=[
            {"digits": "1", "target_flow": "Billing", "template": "forward_voicemail"},
            {"digits": "2", "target_flow": "Opening hours"},
            {"digits": "3", "target_flow": "billing"},  # the same new flow, any case
        ],
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    support = CallFlow.objects.get(slug="support-line")
    targets = {o.digits: o.target_flow for o in MenuOption.objects.filter(flow=support)}
    assert targets["1"] == targets["3"] and targets["1"].name == "Billing"
    # From its template: a Dial, and voicemail when nobody answers.
    billing = targets["1"]
    dial = billing.steps.get(verb="dial")
    assert dial.next_flow.name == "Billing voicemail"
    assert dial.next_flow.steps.filter(verb="record").exists()
    # Empty: a flow with no steps yet.
    assert targets["2"].name == "Opening hours" and not targets["2"].steps.exists()
    assert CallFlow.objects.filter(name__iexact="billing").count() == 1


def test_a_typed_name_picks_the_existing_flow(admin_client):
    sales = make_flow("sales", name="Sales desk")
    data = flow_form(
        "M",
        "m",
        steps=[{"verb": "gather"}],
        options=[{"digits": "1", "target_flow": "sales DESK", "template": "menu"}],
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    assert MenuOption.objects.get().target_flow == sales
    assert CallFlow.objects.count() == 2  # no template applied: nothing new


def test_two_flows_with_one_name_are_told_apart_by_slug(admin_client):
    first = make_flow("sales-east", name="Sales")
    make_flow("sales-west", name="Sales")
    data = flow_form(
        "M", "m", steps=[{"verb": "gather"}], options=[{"digits": "1", "target_flow": "Sales"}]
    )
    response = admin_client.post(ADD, data)
    assert any("Several flows are called Sales" in e for e in errors_of(response))
    data["options-0-goes_to_0"] = "Sales (sales-east)"  # as the suggestions list them
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    assert MenuOption.objects.get().target_flow == first


def test_a_steps_next_flow_is_created_on_save(admin_client):
    data = flow_form(
        "Sales",
        "sales",
        steps=[{"verb": "dial", "dial_target": "+14155550100", "next_flow": "Sales voicemail box"}],
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    step = Step.objects.get(flow__slug="sales")
    assert step.next_flow.name == "Sales voicemail box"


def test_hours_accepts_targets_that_the_save_creates(admin_client):
    from telephony.models import Schedule

    schedule = Schedule.objects.create(name="Office", time_zone="America/New_York")
    data = flow_form(
        "Line",
        "line",
        steps=[
            {
                "verb": "hours",
                "schedule": str(schedule.pk),
                "open_flow": "Open desk",
                "next_flow": "Closed",
            }
        ],
    )
    response = admin_client.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    step = Step.objects.get(flow__slug="line")
    assert (step.open_flow.name, step.next_flow.name) == ("Open desk", "Closed")


def test_a_save_with_errors_creates_no_flow(admin_client):
    data = flow_form(
        "Menu",
        "menu",
        steps=[{"verb": "say"}],  # an error
        options=[{"digits": "1", "target_flow": "Billing", "template": "forward_voicemail"}],
    )
    errors_of(admin_client.post(ADD, data))
    assert not CallFlow.objects.exists()


def test_editing_without_touching_targets_keeps_them(admin_client):
    billing = make_flow("billing", name="Billing")
    menu = make_flow(
        "menu", steps=[{"verb": "gather", "text": "Press 1"}], options=[("1", billing)]
    )
    step, option = menu.steps.get(), menu.options.get()
    data = flow_form(
        "Menu",
        "menu",
        existing_steps=[
            {
                "id": str(step.pk),
                "flow": str(menu.pk),
                "position": "1",
                "verb": "gather",
                "text": "Press 1 now",
            }
        ],
        existing_options=[
            {"id": str(option.pk), "flow": str(menu.pk), "digits": "1", "target_flow": "Billing"}
        ],
    )
    response = admin_client.post(change_url(menu), data)
    assert response.status_code == 302, errors_of(response)
    option.refresh_from_db()
    assert option.target_flow == billing and CallFlow.objects.count() == 2


# --- reordering --------------------------------------------------------------------------


def test_reordered_positions_are_saved_and_renumbered(admin_client):
    flow = make_flow("f", steps=[{"verb": "say", "text": t} for t in ("a", "b", "c")])
    a, b, c = flow.steps.all()
    data = flow_form(
        "F",
        "f",
        existing_steps=[
            {"id": str(s.pk), "flow": str(flow.pk), "position": p, "verb": "say", "text": s.text}
            for s, p in ((a, "2"), (b, "3"), (c, "1"))
        ],
        steps=[{"verb": "hangup"}],  # new, no position: goes last
    )
    response = admin_client.post(change_url(flow), data)
    assert response.status_code == 302, errors_of(response)
    assert list(flow.steps.values_list("position", "verb", "text")) == [
        (1, "say", "c"),
        (2, "say", "a"),
        (3, "say", "b"),
        (4, "hangup", ""),
    ]


# --- the editor's buttons: Open, Save and back, Save and publish ---------------------------


def test_open_saves_and_opens_the_new_target_with_a_way_back(admin_client):
    data = flow_form(
        "Support line",
        "support-line",
        steps=[{"verb": "gather", "text": "Press 1"}],
        options=[{"digits": "1", "target_flow": "Billing"}],
    )
    data["_open"] = "Billing"
    response = admin_client.post(ADD, data)
    support, billing = (
        CallFlow.objects.get(slug="support-line"),
        CallFlow.objects.get(name="Billing"),
    )
    assert response.status_code == 302
    assert response["Location"] == f"{change_url(billing)}?from={support.pk}"
    page = page_text(admin_client.get(response["Location"]))
    assert "Back to Support line" in page and f'name="_from" value="{support.pk}"' in page
    assert "Save and back to Support line" in page
    # The checks' findings about Support line are not listed on Billing's page.
    assert "Warning in flow support-line" not in page

    back = flow_form("Billing", "billing")
    back.update({"_from": str(support.pk), "_back": "Save and back to Support line"})
    response = admin_client.post(change_url(billing), back)
    assert response.status_code == 302 and response["Location"] == change_url(support)


def test_back_without_from_leads_to_the_one_flow_that_leads_here(admin_client):
    billing = make_flow("billing", name="Billing")
    make_flow("menu", name="Menu", steps=[{"verb": "gather"}], options=[("1", billing)])
    page = page_text(admin_client.get(change_url(billing)))
    assert "Back to Menu" in page


def test_save_and_publish_goes_to_the_publish_page(admin_client):
    data = flow_form("Hello", "hello", steps=[{"verb": "say", "text": "Hello"}])
    data["_publish"] = "Save and publish"
    response = admin_client.post(ADD, data)
    assert response.status_code == 302
    assert response["Location"] == "/admin/telephony/release/publish/"
    page = page_text(admin_client.get(response["Location"]))
    assert "Flow &quot;Hello&quot; added" in page


def test_the_flow_page_links_to_publish_and_shows_the_draft_notice(admin_client):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Hi"}])
    page = page_text(admin_client.get(change_url(flow)))
    assert 'id="draft-notice"' in page and "/admin/telephony/release/publish/" in page
    assert 'id="save-and-publish"' in page


# --- bad input: errors, never a 500 ---------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        {"steps-0-verb": "launch-missiles"},
        {"steps-0-position": "first"},
        {"steps-0-say_loop": "-3"},
        {"options-0-goes_to_1": "no-such-template"},
        {"options-0-goes_to_0": "x" * 500},
        {"options-0-goes_to_0": "Bil\x00ling"},
        {"_open": "Nothing by that name"},
    ],
)
def test_bad_input_is_an_error_not_a_500(admin_client, tamper):
    data = flow_form(
        "M",
        "m",
        steps=[{"verb": "gather", "text": "Press 1"}],
        options=[{"digits": "1", "target_flow": "Billing"}],
    )
    data.update(tamper)
    response = admin_client.post(ADD, data)
    assert response.status_code in (200, 302)
    if "_open" in tamper:  # saved; no such flow to open: the list of flows
        assert response.status_code == 302
    else:
        assert errors_of(response)
