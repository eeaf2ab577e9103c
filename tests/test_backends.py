"""The sending backends; the twilio one through the real twilio client and a fake Twilio."""

import io
import logging
import socket

import pytest
from twilio.base.exceptions import TwilioRestException

from telephony import exceptions
from telephony.sending.backends import console, get_backend, locmem
from telephony.sending.backends import twilio as twilio_backend
from telephony.sending.backends.base import NumberWebhooks, OutboundCall, OutboundSms
from tests.fake_twilio import ACCOUNT_SID, API, AUTH_TOKEN

SMS = OutboundSms(
    to="+14155551234",
    from_="+15005550006",
    body="Hello there",
    media_urls=("https://example.com/a.png", "https://example.com/b.png"),
    status_callback="https://switchboard.example.com/twilio/status/",
)
CALL = OutboundCall(
    to="+14155551234",
    from_="+15005550006",
    url="https://switchboard.example.com/twilio/voice/flows/main-menu/",
    status_callback="https://switchboard.example.com/twilio/status/",
)


# --- choosing a backend ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, module", [("twilio", twilio_backend), ("console", console), ("locmem", locmem)]
)
def test_short_names_and_dotted_paths_pick_the_same_class(settings, name, module):
    settings.TELEPHONY_BACKEND = name
    assert type(get_backend()) is module.TelephonyBackend
    settings.TELEPHONY_BACKEND = f"telephony.sending.backends.{name}.TelephonyBackend"
    assert type(get_backend()) is module.TelephonyBackend


def test_default_is_twilio_with_credentials_and_console_without(settings):
    settings.TELEPHONY_BACKEND = ""
    assert isinstance(get_backend(), twilio_backend.TelephonyBackend)
    settings.TWILIO_ACCOUNT_SID = ""
    assert isinstance(get_backend(), console.TelephonyBackend)
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT_SID, ""
    assert isinstance(get_backend(), console.TelephonyBackend)


def test_a_wrong_backend_path_is_a_configuration_error(settings):
    settings.TELEPHONY_BACKEND = "telephony.sending.backends.nope.TelephonyBackend"
    with pytest.raises(exceptions.TelephonyConfigurationError, match="cannot be imported"):
        get_backend()


def test_twilio_backend_needs_credentials(settings):
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(exceptions.TelephonyConfigurationError, match="TWILIO_AUTH_TOKEN"):
        get_backend("twilio")


def test_console_backend_prints_and_invents_a_sid():
    stream = io.StringIO()
    sent = console.TelephonyBackend(stream=stream).send_sms(SMS)
    assert sent.sid.startswith("SM") and len(sent.sid) == 34 and sent.status == "queued"
    out = stream.getvalue()
    assert (
        "To: +14155551234" in out
        and "Hello there" in out
        and "Media: https://example.com/a.png" in out
    )
    call = console.TelephonyBackend(stream=stream).make_call(CALL)
    assert call.sid.startswith("CA") and CALL.url in stream.getvalue()


def test_console_backend_cannot_read_an_account():
    with pytest.raises(exceptions.TelephonyConfigurationError, match="console backend"):
        console.TelephonyBackend().incoming_numbers()


def test_locmem_backend_keeps_an_outbox(outbox):
    locmem.TelephonyBackend().send_sms(SMS)
    locmem.TelephonyBackend().make_call(CALL)
    assert outbox == [SMS, CALL]


# --- the twilio backend: requests as Twilio receives them ---------------------------------


def test_send_sms_posts_twilios_form_with_basic_auth(fake_twilio):
    sent = get_backend().send_sms(SMS)
    [request] = fake_twilio.received
    assert request.method == "POST"
    assert request.path == f"{API}/Messages.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.form == {
        "To": ["+14155551234"],
        "From": ["+15005550006"],
        "Body": ["Hello there"],
        "MediaUrl": ["https://example.com/a.png", "https://example.com/b.png"],
        "StatusCallback": ["https://switchboard.example.com/twilio/status/"],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.sid.startswith("SM") and sent.status == "queued"


def test_send_sms_without_body_or_callback_leaves_them_out(fake_twilio):
    get_backend().send_sms(OutboundSms(to="+14155551234", from_="+15005550006", body="Hi"))
    assert set(fake_twilio.received[0].form) == {"To", "From", "Body"}


def test_make_call_posts_url_and_status_callback_events(fake_twilio):
    sent = get_backend().make_call(CALL)
    [request] = fake_twilio.received
    assert request.path == f"{API}/Calls.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.field("Url") == CALL.url
    assert request.field("Method") == "POST"
    assert request.field("StatusCallback") == CALL.status_callback
    assert request.field("StatusCallbackMethod") == "POST"
    assert request.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert sent.sid.startswith("CA")


def test_numbers_and_caller_ids_are_read_across_pages(fake_twilio):
    fake_twilio.page_size = 2
    for i in range(3):
        fake_twilio.add_number(f"+1415555010{i}", friendly_name=f"Line {i}", sms=i != 1)
    fake_twilio.add_caller_id("+14155550199", friendly_name="Office")
    backend = get_backend()
    numbers = backend.incoming_numbers()
    assert [n.number for n in numbers] == ["+14155550100", "+14155550101", "+14155550102"]
    assert numbers[1].capabilities["sms"] is False and numbers[1].friendly_name == "Line 1"
    assert len(fake_twilio.requests_to("IncomingPhoneNumbers.json")) == 2  # two pages
    [caller_id] = backend.outgoing_caller_ids()
    assert (caller_id.number, caller_id.friendly_name) == ("+14155550199", "Office")


def test_configure_number_updates_its_webhooks(fake_twilio):
    number = fake_twilio.add_number("+14155550100")
    hooks = NumberWebhooks(
        voice_url="https://x.example/twilio/voice/",
        voice_fallback_url="https://x.example/twilio/fallback/",
        sms_url="https://x.example/twilio/sms/",
        sms_fallback_url="https://x.example/twilio/fallback/",
        status_callback="https://x.example/twilio/status/",
    )
    get_backend().configure_number(number["sid"], hooks)
    [request] = fake_twilio.received
    assert request.method == "POST"
    assert request.path == f"{API}/IncomingPhoneNumbers/{number['sid']}.json"
    assert request.field("VoiceUrl") == hooks.voice_url
    assert request.field("SmsUrl") == hooks.sms_url
    assert request.field("StatusCallback") == hooks.status_callback
    assert (
        request.field("VoiceFallbackUrl")
        == request.field("SmsFallbackUrl")
        == hooks.sms_fallback_url
    )
    assert number["voice_url"] == hooks.voice_url  # the fake applied the update


# --- Twilio's errors become ours, never retried --------------------------------------------

ERROR_CASES = [
    (21211, 400, exceptions.InvalidRecipient, "not a valid phone number"),
    (21212, 400, exceptions.SenderNotAllowed, "not a valid number of this Twilio account"),
    (21606, 400, exceptions.SenderNotAllowed, "cannot send SMS"),
    (21601, 400, exceptions.CallerIdCannotSendSms, "verified caller IDs"),
    (21608, 400, exceptions.UnverifiedRecipient, "trial account"),
    (21610, 400, exceptions.RecipientOptedOut, "opted out"),
    (21614, 400, exceptions.CannotReceiveSms, "cannot receive SMS"),
    (20003, 401, exceptions.TwilioAuthenticationError, "TWILIO_AUTH_TOKEN"),
    (21604, 400, exceptions.TelephonySendError, "Twilio refused the request"),
]


@pytest.mark.parametrize("code, status, error_class, explanation", ERROR_CASES)
def test_twilio_errors_map_to_our_exceptions(fake_twilio, code, status, error_class, explanation):
    fake_twilio.fail_next(status, code, f"Twilio says {code}")
    with pytest.raises(error_class, match=explanation) as raised:
        get_backend().send_sms(SMS)
    error = raised.value
    assert type(error) is error_class
    assert isinstance(error, exceptions.TelephonyError)
    assert (error.code, error.status) == (code, status)
    assert f"Twilio error {code}: Twilio says {code}" in str(error)
    assert isinstance(error.__cause__, TwilioRestException)  # chained to twilio's
    assert error.__cause__.code == code
    assert len(fake_twilio.received) == 1  # a 4xx is never retried


def test_bad_credentials_are_refused_by_the_fake_like_twilio(fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(exceptions.TwilioAuthenticationError):
        get_backend().send_sms(SMS)
    assert fake_twilio.received[0].auth == (ACCOUNT_SID, "wrong")


def test_authentication_error_is_also_a_configuration_error():
    from django.core.exceptions import ImproperlyConfigured

    assert issubclass(exceptions.TwilioAuthenticationError, ImproperlyConfigured)


def test_a_404_is_not_retried(fake_twilio):
    with pytest.raises(exceptions.TelephonySendError, match="20404"):
        get_backend().configure_number("PN" + "f" * 32, NumberWebhooks("a", "b", "c", "d", "e"))
    assert len(fake_twilio.received) == 1


# --- retries ---------------------------------------------------------------------------------


def test_429_then_success_is_retried_and_logged(fake_twilio, caplog):
    fake_twilio.fail_next(429, 20429, "Too Many Requests")
    with caplog.at_level(logging.WARNING, logger="telephony.sending.backends.twilio"):
        sent = get_backend().send_sms(SMS)
    assert sent.sid.startswith("SM")
    assert [r.path for r in fake_twilio.received] == [f"{API}/Messages.json"] * 2
    assert fake_twilio.received[0].form == fake_twilio.received[1].form
    [warning] = caplog.records
    assert "HTTP 429 (attempt 1 of 4); retrying in" in warning.getMessage()


def test_500_then_success_is_retried(fake_twilio):
    fake_twilio.fail_next(500, 20500, "Internal Server Error")
    assert get_backend().make_call(CALL).sid.startswith("CA")
    assert len(fake_twilio.requests_to("Calls.json")) == 2


def test_a_5xx_without_a_twilio_body_is_retried_too(fake_twilio):
    fake_twilio.fail_next(503, times=2)  # e.g. a load balancer's empty 503
    assert get_backend().send_sms(SMS).status == "queued"
    assert len(fake_twilio.received) == 3


def test_retries_are_bounded_by_attempts(fake_twilio, settings, caplog):
    settings.TELEPHONY_RETRY_ATTEMPTS = 3
    fake_twilio.fail_next(503, 20503, "Service Unavailable", times=10)
    with pytest.raises(exceptions.TwilioUnavailable, match="after 3 attempt") as raised:
        get_backend().send_sms(SMS)
    assert len(fake_twilio.received) == 3
    assert raised.value.status == 503 and raised.value.code == 20503
    assert isinstance(raised.value.__cause__, TwilioRestException)
    assert "giving up after 3 attempt(s)" in caplog.text


def test_retries_are_bounded_by_total_time(fake_twilio, settings):
    settings.TELEPHONY_RETRY_ATTEMPTS = 50
    settings.TELEPHONY_RETRY_BASE_DELAY = 0.05
    settings.TELEPHONY_RETRY_MAX_DELAY = 0.05
    settings.TELEPHONY_RETRY_MAX_SECONDS = 0.2
    fake_twilio.fail_next(429, 20429, "Too Many Requests", times=100)
    with pytest.raises(exceptions.TwilioUnavailable):
        get_backend().send_sms(SMS)
    assert 2 <= len(fake_twilio.received) <= 10  # stopped by time, long before 50


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    backend = twilio_backend.TelephonyBackend(base_delay=1.0, max_delay=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        delays = {backend.backoff(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter


def test_sleeps_between_attempts_follow_the_backoff(fake_twilio):
    slept = []
    backend = twilio_backend.TelephonyBackend(
        api_url=fake_twilio.url, base_delay=1.0, max_delay=8.0, max_seconds=100, sleep=slept.append
    )
    fake_twilio.fail_next(429, 20429, "Too Many Requests", times=3)
    backend.send_sms(SMS)
    assert len(slept) == 3
    assert 0.5 <= slept[0] <= 1 and 1 <= slept[1] <= 2 and 2 <= slept[2] <= 4


def test_a_create_that_times_out_is_not_retried(fake_twilio, settings):
    settings.TELEPHONY_TWILIO_TIMEOUT = 0.2
    fake_twilio.delay_next(1.0)
    with pytest.raises(exceptions.TwilioTimeout, match="may or may not have gone through"):
        get_backend().send_sms(SMS)
    assert len(fake_twilio.received) == 1  # sending twice is worse than not knowing


def test_a_read_that_times_out_is_retried(fake_twilio, settings):
    settings.TELEPHONY_TWILIO_TIMEOUT = 0.2
    fake_twilio.add_number("+14155550100")
    fake_twilio.delay_next(1.0)
    assert [n.number for n in get_backend().incoming_numbers()] == ["+14155550100"]
    assert len(fake_twilio.received) == 2


def test_reads_that_keep_timing_out_give_up(fake_twilio, settings):
    settings.TELEPHONY_TWILIO_TIMEOUT = 0.1
    settings.TELEPHONY_RETRY_ATTEMPTS = 2
    fake_twilio.delay_next(0.5)
    fake_twilio.delay_next(0.5)
    with pytest.raises(exceptions.TwilioUnavailable, match="no answer within 0.1s"):
        get_backend().outgoing_caller_ids()


def test_an_unreachable_twilio_is_retried_then_reported(settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TELEPHONY_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"
    settings.TELEPHONY_RETRY_ATTEMPTS = 3
    with pytest.raises(exceptions.TwilioUnavailable, match="after 3 attempt.*could not connect"):
        get_backend().send_sms(SMS)


def test_list_pages_failing_are_retried_and_translated_too(fake_twilio):
    # twilio raises a plain TwilioException (not TwilioRestException) for a failed page.
    fake_twilio.add_caller_id("+14155550199")
    fake_twilio.fail_next(500, 20500, "Internal Server Error")
    assert [c.number for c in get_backend().outgoing_caller_ids()] == ["+14155550199"]
    fake_twilio.fail_next(403, 20403, "Forbidden")
    with pytest.raises(exceptions.TelephonySendError, match="Twilio error 20403: Forbidden"):
        get_backend().incoming_numbers()


# --- system checks ---------------------------------------------------------------------------


def test_system_check_on_the_backend(settings):
    from telephony.system_checks import check_sending_backend

    assert check_sending_backend(None) == []  # locmem in tests
    settings.TELEPHONY_BACKEND = "telephony.sending.backends.nope.TelephonyBackend"
    assert [m.id for m in check_sending_backend(None)] == ["telephony.E002"]
    settings.TELEPHONY_BACKEND = "twilio"
    assert check_sending_backend(None) == []
    settings.TWILIO_AUTH_TOKEN = ""
    assert [m.id for m in check_sending_backend(None)] == ["telephony.E003"]
    settings.TELEPHONY_BACKEND = ""  # the default then is console: nothing to complain about
    assert check_sending_backend(None) == []


def test_deploy_check_warns_when_nothing_is_really_sent(settings):
    from telephony.system_checks import check_backend_sends

    assert [m.id for m in check_backend_sends(None)] == ["telephony.W004"]  # locmem
    settings.TELEPHONY_BACKEND = "twilio"
    assert check_backend_sends(None) == []
