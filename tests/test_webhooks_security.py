"""Signature validation, methods, CSRF, proxies, token rotation and hostile input."""

from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from tests.conftest import FORM, SignedClient, parse_twiml, verbs

pytestmark = pytest.mark.django_db

DEMO = {"To": "+15005550006", "From": "+14155551234", "CallSid": "CA1"}


def test_signed_request_is_answered(live_demo, twilio):
    assert verbs(parse_twiml(twilio.post("/twilio/voice/", DEMO)))[1] == "Gather"


def test_missing_signature_is_403(live_demo, client):
    response = client.post("/twilio/voice/", urlencode(DEMO), content_type=FORM)
    assert response.status_code == 403


@pytest.mark.parametrize("signature", ["", "garbage", "a" * 28, "=" * 5000, "éü\u2603"])
def test_malformed_signature_is_403(live_demo, client, signature):
    response = client.post(
        "/twilio/voice/", urlencode(DEMO), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
    )
    assert response.status_code == 403


def test_wrong_token_is_403(live_demo, twilio):
    assert twilio.post("/twilio/voice/", DEMO, token="not-our-token").status_code == 403


def test_tampered_parameters_are_403(live_demo, twilio, client):
    signature = twilio.signature("/twilio/voice/", DEMO)
    tampered = {**DEMO, "To": "+14155550000"}
    assert (
        client.post(
            "/twilio/voice/",
            urlencode(tampered),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=signature,
        ).status_code
        == 403
    )
    extra = {**DEMO, "Digits": "1"}
    assert (
        client.post(
            "/twilio/voice/", urlencode(extra), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=signature
        ).status_code
        == 403
    )


def test_signature_for_another_url_is_403(live_demo, twilio):
    response = twilio.post(
        "/twilio/voice/", DEMO, url="http://testserver/twilio/voice/flows/sales/"
    )
    assert response.status_code == 403


def test_query_string_is_part_of_the_signed_url(live_demo, twilio, client):
    path = "/twilio/voice/?source=console"
    assert twilio.post(path, DEMO).status_code == 200
    signature = twilio.signature(path, DEMO)
    assert (
        client.post(
            "/twilio/voice/?source=other",
            urlencode(DEMO),
            content_type=FORM,
            HTTP_X_TWILIO_SIGNATURE=signature,
        ).status_code
        == 403
    )


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_are_405(client, method):
    assert getattr(client, method)("/twilio/voice/").status_code == 405


def test_csrf_exempt_even_with_csrf_checks(live_demo):
    strict = SignedClient(Client(enforce_csrf_checks=True))
    assert strict.post("/twilio/voice/", DEMO).status_code == 200


@override_settings(TWILIO_AUTH_TOKEN="", TWILIO_PREVIOUS_AUTH_TOKENS=[])
def test_fails_closed_without_a_token(live_demo, twilio):
    assert twilio.post("/twilio/voice/", DEMO).status_code == 403


@override_settings(TWILIO_AUTH_TOKEN="new-token", TWILIO_PREVIOUS_AUTH_TOKENS=["old-token"])
def test_token_rotation_accepts_current_and_previous(live_demo, twilio):
    assert twilio.post("/twilio/voice/", DEMO, token="new-token").status_code == 200
    assert twilio.post("/twilio/voice/", DEMO, token="old-token").status_code == 200
    assert twilio.post("/twilio/voice/", DEMO, token="test-auth-token").status_code == 403


@override_settings(TELEPHONY_VALIDATE_SIGNATURES=False)
def test_validation_can_be_switched_off_explicitly(live_demo, client):
    assert client.post("/twilio/voice/", urlencode(DEMO), content_type=FORM).status_code == 200


@override_settings(DEBUG=True)
def test_debug_does_not_switch_validation_off(live_demo, client):
    assert client.post("/twilio/voice/", urlencode(DEMO), content_type=FORM).status_code == 403


# --- behind a proxy -------------------------------------------------------------------

PUBLIC = "https://switchboard.example.com"


@override_settings(TELEPHONY_PUBLIC_URL=PUBLIC)
def test_public_url_is_what_is_validated(live_demo, twilio):
    # Twilio signed the public https URL; Django sees plain http on an internal host.
    ok = twilio.post("/twilio/voice/", DEMO, url=f"{PUBLIC}/twilio/voice/")
    assert ok.status_code == 200
    assert twilio.post("/twilio/voice/", DEMO).status_code == 403  # signed for the internal URL


@override_settings(TELEPHONY_PUBLIC_URL=PUBLIC)
def test_a_webhook_sent_over_plain_http_is_refused(live_demo, twilio):
    # Twilio signs the URL it requested: pointed at http://, its signature cannot match the
    # https public URL, so the webhook is refused rather than answered in plain text.
    plain = twilio.post("/twilio/voice/", DEMO, url="http://switchboard.example.com/twilio/voice/")
    assert plain.status_code == 403


@override_settings(TELEPHONY_PUBLIC_URL=f"{PUBLIC}/")
def test_public_url_trailing_slash_and_port_variants(live_demo, twilio):
    assert twilio.post("/twilio/voice/", DEMO, url=f"{PUBLIC}/twilio/voice/").status_code == 200
    # Twilio sometimes signs with the default port spelled out; RequestValidator accepts both.
    with_port = "https://switchboard.example.com:443/twilio/voice/"
    assert twilio.post("/twilio/voice/", DEMO, url=with_port).status_code == 200


@override_settings(
    TELEPHONY_PUBLIC_URL="",
    USE_X_FORWARDED_HOST=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
)
def test_forwarded_headers_are_used_when_trusted(live_demo, twilio):
    headers = {
        "HTTP_X_FORWARDED_HOST": "switchboard.example.com",
        "HTTP_X_FORWARDED_PROTO": "https",
    }
    url = f"{PUBLIC}/twilio/voice/"
    assert twilio.post("/twilio/voice/", DEMO, url=url, **headers).status_code == 200


@override_settings(TELEPHONY_PUBLIC_URL="")
def test_forwarded_headers_are_ignored_when_not_trusted(live_demo, twilio):
    headers = {
        "HTTP_X_FORWARDED_HOST": "switchboard.example.com",
        "HTTP_X_FORWARDED_PROTO": "https",
    }
    url = f"{PUBLIC}/twilio/voice/"
    assert twilio.post("/twilio/voice/", DEMO, url=url, **headers).status_code == 403


# --- hostile input -------------------------------------------------------------------------


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_huge_body_is_400_not_500(live_demo, twilio):
    response = twilio.post("/twilio/voice/", {**DEMO, "Junk": "x" * 20_000})
    assert response.status_code == 400


def test_too_many_fields_is_400(live_demo, twilio):
    params = {f"f{i}": "x" for i in range(1100)}
    assert twilio.post("/twilio/voice/", params).status_code == 400


def test_non_form_body_with_bad_signature_is_403(live_demo, client):
    response = client.post(
        "/twilio/voice/",
        b"\xff\xfe{not json",
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE="x",
    )
    assert response.status_code == 403


def test_system_check_warns_when_validation_is_off(settings):
    from telephony.system_checks import check_webhook_security

    settings.TELEPHONY_VALIDATE_SIGNATURES = False
    assert [m.id for m in check_webhook_security(None)] == ["telephony.W001"]
    settings.TELEPHONY_VALIDATE_SIGNATURES = True
    settings.TWILIO_AUTH_TOKEN = ""
    assert [m.id for m in check_webhook_security(None)] == ["telephony.W002"]
    settings.TWILIO_AUTH_TOKEN = "t"
    settings.TELEPHONY_PUBLIC_URL = "switchboard.example.com"
    assert [m.id for m in check_webhook_security(None)] == ["telephony.E001"]


def test_check_command_reports_validation_off(settings, capsys):
    settings.TELEPHONY_VALIDATE_SIGNATURES = False
    call_command("check")
    assert "telephony.W001" in capsys.readouterr().err


def test_deploy_check_warns_about_a_plain_http_public_url(settings):
    from telephony.system_checks import check_public_url

    settings.TELEPHONY_PUBLIC_URL = "http://switchboard.example.com"
    assert [m.id for m in check_public_url(None)] == ["telephony.W006"]
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    assert check_public_url(None) == []
    settings.TELEPHONY_PUBLIC_URL = ""
    assert [m.id for m in check_public_url(None)] == ["telephony.W003"]
