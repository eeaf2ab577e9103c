"""The voice webhooks through the real views with signed requests."""

import pytest

from telephony.models import Step
from tests.conftest import parse_twiml, verbs

pytestmark = pytest.mark.django_db


def test_demo_number_answers_with_main_menu(demo, twilio):
    root = parse_twiml(
        twilio.post("/twilio/voice/", {"To": "+15005550006", "From": "+14155551234"})
    )
    assert verbs(root) == ["Say", "Gather", "Say", "Redirect"]
    gather = root.find("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action").endswith("/gather/")


def test_gather_option_routes_to_sales(demo, twilio):
    gather = Step.objects.get(flow__slug="main-menu", verb="gather")
    root = parse_twiml(
        twilio.post(f"/twilio/voice/flows/main-menu/steps/{gather.pk}/gather/", {"Digits": "1"})
    )
    assert root.find("Dial/Number").text == "+14155550100"
