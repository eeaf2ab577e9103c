"""The flow editor in the real admin, through Django's test client."""

import re

import pytest

from telephony.models import CallFlow, MenuOption, PhoneNumber, Step
from tests.factories import make_flow, make_number

pytestmark = pytest.mark.django_db

# What the editor's fields hold when left as they come (the browser sends every verb's
# fields; the server reads the chosen verb's only: telephony/admin/step_forms.py).
FIELD_DEFAULTS = {
    "loop": "1",
    "length": "1",
    "input": "dtmf",
    "dial_kind": "number",
    "ring_mode": "together",
    "tries": "3",
    "reason": "rejected",
    "play_beep": "on",
}
FLOW_FIELDS = {"next_flow", "answered_flow", "give_up_flow", "open_flow", "target_flow"}


def target_fields(name: str, value, template: str = "") -> dict:
    """A "Goes to" box: the flow's name (a pk or a CallFlow is turned into its name)
    and the template a new flow would start from."""
    if isinstance(value, CallFlow):
        value = value.name
    elif isinstance(value, str) and value.isdigit():
        value = CallFlow.objects.get(pk=value).name
    return {f"{name}_0": value or "", f"{name}_1": template}


def step_fields(prefix: str, step: dict) -> dict:
    """POST data of one step: `step` names Step fields; each goes to the chosen verb's
    field (say_text, gather_num_digits, ...), as the editor's form names them."""
    from telephony.admin.step_forms import VERB_FIELDS

    step = dict(step)
    verb = step.pop("verb", "say")
    data = {f"{prefix}-verb": verb, f"{prefix}-position": step.pop("position", "")}
    for key in ("id", "flow", "DELETE"):
        if key in step:
            data[f"{prefix}-{key}"] = step.pop(key)
    template = step.pop("template", "")
    names = {spec.name for spec in VERB_FIELDS[verb]}
    unknown = set(step) - names
    assert not unknown, f"a {verb} step has no field {unknown}"
    for name in names:
        value = step.get(name, FIELD_DEFAULTS.get(name, ""))
        if name in FLOW_FIELDS:
            data.update(target_fields(f"{prefix}-{verb}_{name}", value, template))
        elif value is not None and not (name in ("play_beep",) and value == ""):
            data[f"{prefix}-{verb}_{name}"] = value
    return data


def flow_form(name, slug, steps=(), options=(), existing_steps=(), existing_options=()):
    """POST data for the flow change form with its two inline formsets."""
    data = {"name": name, "slug": slug, "description": "", "is_active": "on"}
    all_steps = list(existing_steps) + list(steps)
    data.update(
        {
            "steps-TOTAL_FORMS": str(len(all_steps)),
            "steps-INITIAL_FORMS": str(len(existing_steps)),
            "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000",
        }
    )
    for i, step in enumerate(all_steps):
        data.update(step_fields(f"steps-{i}", step))
    all_options = list(existing_options) + list(options)
    data.update(
        {
            "options-TOTAL_FORMS": str(len(all_options)),
            "options-INITIAL_FORMS": str(len(existing_options)),
            "options-MIN_NUM_FORMS": "0",
            "options-MAX_NUM_FORMS": "1000",
        }
    )
    for i, option in enumerate(all_options):
        option = {"digits": "", "phrase": "", "target_flow": "", **option}
        target, template = option.pop("target_flow"), option.pop("template", "")
        data.update(target_fields(f"options-{i}-goes_to", target, template))
        for key, value in option.items():
            data[f"options-{i}-{key}"] = value
    return data


def test_add_flow_with_steps_and_options(admin_client):
    sales = make_flow("sales")
    data = flow_form(
        "Main",
        "main",
        steps=[
            {"verb": "say", "text": "Welcome"},
            {"verb": "gather", "text": "Press 1 for sales", "num_digits": "1"},
            {"verb": "hangup"},
        ],
        options=[{"digits": "1", "phrase": "sales", "target_flow": str(sales.pk)}],
    )
    response = admin_client.post("/admin/telephony/callflow/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    flow = CallFlow.objects.get(slug="main")
    assert [(s.position, s.verb) for s in flow.steps.all()] == [
        (1, "say"),
        (2, "gather"),
        (3, "hangup"),
    ]
    option = MenuOption.objects.get(flow=flow)
    assert (option.digits, option.phrase, option.target_flow) == ("1", "sales", sales)


def error_text(response) -> str:
    assert response.status_code == 200  # form re-displayed with errors
    return re.sub(r"\s+", " ", response.content.decode())


def test_say_text_too_long_is_shown_next_to_the_field(admin_client):
    data = flow_form("Long", "long", steps=[{"verb": "say", "text": "x" * 4097}])
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "Twilio says at most 4096 characters" in page
    assert not CallFlow.objects.filter(slug="long").exists()


def test_option_digits_must_fit_the_gather_as_submitted(admin_client):
    sales = make_flow("sales")
    data = flow_form(
        "Main",
        "main",
        steps=[{"verb": "gather", "num_digits": "1"}],
        options=[{"digits": "12", "target_flow": str(sales.pk)}],
    )
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "Callers cannot choose this option: the Gather stops after 1 key(s)" in page


def test_options_need_a_gather(admin_client):
    sales = make_flow("sales")
    data = flow_form(
        "Main",
        "main",
        steps=[{"verb": "say", "text": "hi"}],
        options=[{"digits": "1", "target_flow": str(sales.pk)}],
    )
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "no Gather step" in page


def test_option_needs_a_target(admin_client):
    data = flow_form("Main", "main", steps=[{"verb": "gather"}], options=[{"digits": "1"}])
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "Choose the flow this option leads to" in page


def test_dial_caller_id_not_ours_is_refused(admin_client):
    data = flow_form(
        "Sales",
        "sales2",
        steps=[{"verb": "dial", "dial_target": "+14155550100", "caller_id": "+14155550199"}],
    )
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "neither one of our numbers nor a verified caller ID" in page


def test_duplicate_positions_are_refused(admin_client):
    data = flow_form(
        "Dup",
        "dup",
        steps=[
            {"verb": "say", "text": "a", "position": "1"},
            {"verb": "say", "text": "b", "position": "1"},
        ],
    )
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "Another step already has position 1" in page


def test_swapping_two_steps_in_one_save(admin_client):
    flow = make_flow(
        "swap", steps=[{"verb": "say", "text": "first"}, {"verb": "say", "text": "second"}]
    )
    first, second = flow.steps.all()
    data = flow_form(
        "Swap",
        "swap",
        existing_steps=[
            {
                "id": str(first.pk),
                "flow": str(flow.pk),
                "verb": "say",
                "text": "first",
                "position": "2",
            },
            {
                "id": str(second.pk),
                "flow": str(flow.pk),
                "verb": "say",
                "text": "second",
                "position": "1",
            },
        ],
    )
    response = admin_client.post(f"/admin/telephony/callflow/{flow.pk}/change/", data)
    assert response.status_code == 302, error_text(response)[:3000]
    assert [s.text for s in flow.steps.order_by("position")] == ["second", "first"]


def test_positions_are_renumbered_after_delete(admin_client):
    flow = make_flow("ren", steps=[{"verb": "say", "text": t} for t in ("a", "b", "c")])
    a, b, c = flow.steps.all()
    data = flow_form(
        "Ren",
        "ren",
        existing_steps=[
            {
                "id": str(s.pk),
                "flow": str(flow.pk),
                "verb": "say",
                "text": s.text,
                "position": str(s.position),
            }
            for s in (a, b, c)
        ],
    )
    data["steps-1-DELETE"] = "on"
    response = admin_client.post(f"/admin/telephony/callflow/{flow.pk}/change/", data)
    assert response.status_code == 302
    assert [(s.position, s.text) for s in flow.steps.all()] == [(1, "a"), (2, "c")]


def test_change_page_shows_twiml_and_what_leads_here(admin_client, demo):
    flow = CallFlow.objects.get(slug="sales")
    page = admin_client.get(f"/admin/telephony/callflow/{flow.pk}/change/").content.decode()
    assert "&lt;Dial" in page and "+14155550100&lt;/Number&gt;" in page
    assert "Option 1 of Main menu" in page
    menu = CallFlow.objects.get(slug="main-menu")
    page = admin_client.get(f"/admin/telephony/callflow/{menu.pk}/change/").content.decode()
    assert "Number +15005550006" in page
    assert "/twilio/voice/flows/main-menu/" in page


def test_changelists_and_add_pages_render(admin_client, demo):
    for url in [
        "/admin/telephony/callflow/",
        "/admin/telephony/callflow/add/",
        "/admin/telephony/phonenumber/",
        "/admin/telephony/phonenumber/add/",
        "/admin/telephony/verifiedcallerid/",
        "/admin/telephony/verifiedcallerid/add/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_phone_number_admin_normalises_and_validates(admin_client):
    data = {
        "number": "(415) 555-0100",
        "friendly_name": "Main",
        "sid": "",
        "voice_capable": "on",
        "call_flow": "",
        # The number's SMS rules inline (issue 3): an empty formset.
        "sms_rules-TOTAL_FORMS": "0",
        "sms_rules-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/telephony/phonenumber/add/", data)
    assert response.status_code == 302
    assert str(PhoneNumber.objects.get().number) == "+14155550100"
    data["number"] = "12"
    page = error_text(admin_client.post("/admin/telephony/phonenumber/add/", data))
    assert "Enter a valid phone number" in page


def test_admin_requires_login(client):
    make_number()
    response = client.get("/admin/telephony/callflow/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_step_positions_stay_natural_keys(admin_client):
    flow = make_flow("nk", steps=[{"verb": "say", "text": "a"}])
    assert Step.objects.get_by_natural_key("nk", 1).flow == flow


def test_nul_characters_are_refused_not_a_500(admin_client):
    data = flow_form("Nul", "nul", steps=[{"verb": "say", "text": "a\x00b"}])
    page = error_text(admin_client.post("/admin/telephony/callflow/add/", data))
    assert "Null characters are not allowed" in page
