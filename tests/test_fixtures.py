"""Flows travel as fixtures: natural keys make dumpdata/loaddata portable."""

import json

import pytest
from django.core.management import call_command

from telephony.flows import twiml
from telephony.flows.loading import load_flow
from telephony.models import CallFlow, MenuOption, PhoneNumber, Step
from tests.factories import make_flow

pytestmark = pytest.mark.django_db

MODELS = [
    "telephony.callflow",
    "telephony.step",
    "telephony.menuoption",
    "telephony.phonenumber",
    "telephony.verifiedcallerid",
]


def dump(tmp_path):
    path = tmp_path / "flows.json"
    call_command(
        "dumpdata", *MODELS, natural_foreign=True, natural_primary=True, indent=2, output=str(path)
    )
    return path


def rendered(slug):
    return twiml.render_flow(load_flow(slug)).to_xml()


def without_pks(xml: str) -> str:
    """Step URLs carry primary keys, which differ between environments."""
    import re

    return re.sub(r"/steps/\d+/", "/steps/N/", xml)


def test_demo_round_trips_into_a_database_with_other_data(live_demo, tmp_path):
    before = {
        slug: without_pks(rendered(slug))
        for slug in CallFlow.objects.values_list("slug", flat=True)
    }
    path = dump(tmp_path)
    records = json.loads(path.read_text())
    assert all("pk" not in record for record in records)  # portable: no primary keys
    numbers = [r for r in records if r["model"] == "telephony.phonenumber"]
    assert numbers[0]["fields"]["call_flow"] == ["main-menu"]

    # Another environment: different rows already occupy the primary keys.
    Step.objects.all().delete()
    MenuOption.objects.all().delete()
    PhoneNumber.objects.all().delete()
    CallFlow.objects.all().delete()
    other = make_flow("other", steps=[{"verb": "say", "text": f"x{i}"} for i in range(12)])
    call_command("loaddata", str(path), verbosity=0)

    after = {slug: without_pks(rendered(slug)) for slug in before}
    assert after == before
    assert other.steps.count() == 12  # untouched
    assert str(PhoneNumber.objects.get().call_flow.slug) == "main-menu"


def test_loading_twice_updates_instead_of_duplicating(live_demo, tmp_path):
    path = dump(tmp_path)
    counts = (CallFlow.objects.count(), Step.objects.count(), MenuOption.objects.count())
    call_command("loaddata", str(path), verbosity=0)
    assert (CallFlow.objects.count(), Step.objects.count(), MenuOption.objects.count()) == counts


def test_seed_demo_only_fills_an_empty_database(db, capsys):
    call_command("seed_demo")
    assert CallFlow.objects.filter(slug="main-menu").exists()
    CallFlow.objects.filter(slug="main-menu").update(name="Edited by staff")
    call_command("seed_demo")
    assert CallFlow.objects.get(slug="main-menu").name == "Edited by staff"
    assert "not loaded" in capsys.readouterr().out


def test_ensure_local_admin_refuses_without_debug(db, settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="createsuperuser"):
        call_command("ensure_local_admin")
    settings.DEBUG = True
    call_command("ensure_local_admin")
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="admin").check_password("admin")
