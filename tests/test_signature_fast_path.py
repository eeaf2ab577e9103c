"""Signature checks take a one-HMAC fast path; everything else still goes through twilio's
RequestValidator.validate(). Whatever path a request takes, the verdict must not change."""

import pytest
from django.http import QueryDict
from twilio.request_validator import RequestValidator

from tests.conftest import parse_twiml
from tests.factories import make_flow, make_number

pytestmark = pytest.mark.django_db

PUBLIC = "https://switchboard.example.com"
PATH = "/twilio/voice/"
PARAMS = {"To": "+14155550100", "From": "+14155551234", "CallSid": "CA1"}


@pytest.fixture(autouse=True)
def number(settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    make_number("+14155550100", make_flow("f", steps=[{"verb": "say", "text": "Hi."}]))


def post(client, signature, params=PARAMS, **headers):
    return client.post(PATH, params, HTTP_X_TWILIO_SIGNATURE=signature, **headers)


def test_exact_url_is_accepted(client):
    signature = RequestValidator("test-auth-token").compute_signature(PUBLIC + PATH, PARAMS)
    assert parse_twiml(post(client, signature)).find("Say").text == "Hi."


def test_url_signed_with_the_default_port_is_accepted(client):
    signature = RequestValidator("test-auth-token").compute_signature(
        "https://switchboard.example.com:443" + PATH, PARAMS
    )
    assert post(client, signature).status_code == 200


def test_repeated_parameters_are_all_signed(client):
    params = {**PARAMS, "Tag": ["b", "a"]}
    signed = QueryDict(mutable=True)
    for key, value in params.items():
        signed.setlist(key, value if isinstance(value, list) else [value])
    signature = RequestValidator("test-auth-token").compute_signature(PUBLIC + PATH, signed)
    assert post(client, signature, params).status_code == 200
    tampered = {**PARAMS, "Tag": ["b"]}
    assert post(client, signature, tampered).status_code == 403


def test_sha256_named_in_the_settings_header(client):
    signature = RequestValidator("test-auth-token").compute_signature(
        PUBLIC + PATH, PARAMS, "HMAC_SHA256"
    )
    header = {"HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS": "key=k1,algorithm=HMAC_SHA256"}
    assert post(client, signature, **header).status_code == 200
    assert post(client, signature).status_code == 403  # read as SHA-1: no match


def test_unknown_algorithm_is_refused_not_an_error(client):
    signature = RequestValidator("test-auth-token").compute_signature(PUBLIC + PATH, PARAMS)
    header = {"HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS": "algorithm=HMAC_MD5"}
    assert post(client, signature, **header).status_code == 403


def test_wrong_token_refused_previous_token_accepted(client, settings):
    signature = RequestValidator("old-token").compute_signature(PUBLIC + PATH, PARAMS)
    assert post(client, signature).status_code == 403
    settings.TWILIO_PREVIOUS_AUTH_TOKENS = ["old-token"]
    assert post(client, signature).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/twilio/voice/", "/twilio/voice/flows/caf%C3%A9/", "/twilio/a b/", "/twilio/x/?q=1&r=%20"],
)
@pytest.mark.parametrize("base", [PUBLIC, PUBLIC + "/"])
def test_the_requested_url_is_the_public_base_and_the_full_path(settings, rf, base, path):
    from telephony.webhooks.signatures import requested_url

    settings.TELEPHONY_PUBLIC_URL = base
    request = rf.post(path)
    expected = PUBLIC + request.get_full_path()
    assert requested_url(request) == expected
    assert requested_url(rf.post(path)) == expected  # remembered per path: the same again


def test_reading_the_form_as_a_dict_of_lists_signs_exactly_as_twilio_does():
    import random

    from telephony.webhooks.signatures import _form_validator

    rng = random.Random(5)
    alphabet = "aZ09 +%&=é€_-"
    for _ in range(300):
        form = QueryDict(mutable=True)
        for _ in range(rng.randrange(0, 12)):
            name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 6)))
            form.appendlist(name, "".join(rng.choice(alphabet) for _ in range(rng.randrange(8))))
        # twilio's own reading of a QueryDict: getlist(), after getall() is missing.
        expected = RequestValidator("t0k").compute_signature(PUBLIC + PATH, form)
        assert _form_validator("t0k").compute_signature(PUBLIC + PATH, form) == expected
