"""send_test_sms, make_test_call and sync_twilio_numbers: thin, one-line errors."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from telephony.models import CallFlow, CallLog, MessageLog, OptOut, PhoneNumber, VerifiedCallerId
from tests.fake_twilio import API

pytestmark = pytest.mark.django_db

OURS = "+15005550006"
CALLER = "+14155551234"
PUBLIC = "https://switchboard.example.com"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def fails(*args) -> str:
    with pytest.raises(CommandError) as raised:
        run(*args)
    message = str(raised.value)
    assert "\n" not in message and message  # one line that says what to fix
    return message


@pytest.fixture
def ours(db):
    return PhoneNumber.objects.create(number=OURS)


# --- send_test_sms ---------------------------------------------------------------------------------


def test_send_test_sms_with_the_console_backend_prints_and_logs(ours, settings, capsys):
    settings.TELEPHONY_BACKEND = "console"
    out = run("send_test_sms", "--to", CALLER, "--body", "hi")
    printed = capsys.readouterr().out
    assert "(console backend: not sent)" in printed and "To: +14155551234" in printed
    assert "\nhi\n" in printed
    log = MessageLog.objects.get()
    assert (log.body, log.to_number, log.status) == ("hi", CALLER, "queued")
    assert f"SMS {log.sid} from {OURS} to {CALLER}: queued" in out


def test_send_test_sms_through_twilio(ours, fake_twilio):
    out = run("send_test_sms", "--to", "4155551234", "--from", OURS)
    [request] = fake_twilio.received
    assert request.path == f"{API}/Messages.json"
    assert request.field("Body") == "Test message from Switchboard."
    assert request.field("To") == CALLER
    assert MessageLog.objects.get().sid in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--to", "12345"], "12345 is not a valid phone number"),
        (["--to", CALLER, "--from", "+14155550177"], "is not one of our numbers"),
        (["--to", CALLER, "--body", "x" * 1601], "at most 1600 characters"),
    ],
)
def test_send_test_sms_refuses_bad_input(ours, outbox, args, message):
    assert message in fails("send_test_sms", *args)
    assert outbox == []


def test_send_test_sms_without_numbers_says_what_to_do(db):
    assert "sync_twilio_numbers" in fails("send_test_sms", "--to", CALLER)


def test_send_test_sms_to_an_opted_out_number(ours, outbox):
    OptOut.objects.create(number=CALLER)
    assert "opted out" in fails("send_test_sms", "--to", CALLER)


@pytest.mark.parametrize(
    "code, status, hint",
    [(21608, 400, "trial account"), (20003, 401, "TWILIO_AUTH_TOKEN"), (21610, 400, "START")],
)
def test_send_test_sms_reports_twilio_errors(ours, fake_twilio, code, status, hint):
    fake_twilio.fail_next(status, code, "Twilio's own words")
    message = fails("send_test_sms", "--to", CALLER)
    assert hint in message and f"Twilio error {code}" in message


def test_send_test_sms_when_twilio_is_down(ours, fake_twilio, settings):
    settings.TELEPHONY_RETRY_ATTEMPTS = 2
    fake_twilio.fail_next(503, 20503, "Service Unavailable", times=5)
    assert "after 2 attempt(s)" in fails("send_test_sms", "--to", CALLER)
    assert MessageLog.objects.get().status == "failed"


def test_a_missing_twilio_configuration_is_one_line(ours, settings):
    settings.TELEPHONY_BACKEND = "twilio"
    settings.TWILIO_AUTH_TOKEN = ""
    assert "TWILIO_AUTH_TOKEN" in fails("send_test_sms", "--to", CALLER)


# --- make_test_call -------------------------------------------------------------------------------


def test_make_test_call_to_a_flow(ours, fake_twilio, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    CallFlow.objects.create(name="Menu", slug="menu")
    out = run("make_test_call", "--to", CALLER, "--flow", "menu")
    assert fake_twilio.received[0].field("Url") == f"{PUBLIC}/twilio/voice/flows/menu/"
    log = CallLog.objects.get()
    assert log.sid in out and log.flow.slug == "menu"


def test_make_test_call_to_a_url(ours, outbox):
    run("make_test_call", "--to", CALLER, "--url", "https://x.example/twiml")
    assert outbox[0].url == "https://x.example/twiml"


def test_make_test_call_to_a_flow_needs_the_public_url(ours):
    CallFlow.objects.create(name="Menu", slug="menu")
    assert "TELEPHONY_PUBLIC_URL" in fails("make_test_call", "--to", CALLER, "--flow", "menu")


def test_make_test_call_errors(ours, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    assert "no call flow 'nope'" in fails("make_test_call", "--to", CALLER, "--flow", "nope")
    with pytest.raises(CommandError, match="one of the arguments --flow --url is required"):
        call_command("make_test_call", "--to", CALLER)
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("make_test_call", "--to", CALLER, "--flow", "a", "--url", "https://x/")


# --- sync_twilio_numbers ------------------------------------------------------------------------------


def test_sync_twilio_numbers_pulls_numbers_and_caller_ids(db, fake_twilio):
    flow = CallFlow.objects.create(name="Menu", slug="menu")
    PhoneNumber.objects.create(number="+14155550100", call_flow=flow, sms_capable=False)
    fake_twilio.add_number("+14155550100", sid="PN" + "1" * 32, friendly_name="Main")
    fake_twilio.add_number("+14155550101", friendly_name="Voice only", sms=False, mms=False)
    fake_twilio.add_caller_id("+14155550199", friendly_name="Office")
    out = run("sync_twilio_numbers")
    assert "Phone numbers: 1 new, 1 updated." in out
    assert "Verified caller IDs: 1 new, 0 updated." in out
    main = PhoneNumber.objects.get(number="+14155550100")
    assert (main.sid, main.friendly_name, main.sms_capable, main.call_flow) == (
        "PN" + "1" * 32,
        "Main",
        True,
        flow,  # kept
    )
    assert PhoneNumber.objects.get(number="+14155550101").sms_capable is False
    assert VerifiedCallerId.objects.get().friendly_name == "Office"
    assert {r.method for r in fake_twilio.received} == {"GET"}  # nothing changed at Twilio
    run("sync_twilio_numbers")  # again: nothing new
    assert PhoneNumber.objects.count() == 2 and VerifiedCallerId.objects.count() == 1


def test_sync_twilio_numbers_can_point_webhooks_at_us(db, fake_twilio, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    number = fake_twilio.add_number("+14155550100")
    out = run("sync_twilio_numbers", "--configure-webhooks")
    [update] = [r for r in fake_twilio.received if r.method == "POST"]
    assert update.path == f"{API}/IncomingPhoneNumbers/{number['sid']}.json"
    assert update.field("VoiceUrl") == f"{PUBLIC}/twilio/voice/"
    assert update.field("SmsUrl") == f"{PUBLIC}/twilio/sms/"
    assert update.field("StatusCallback") == f"{PUBLIC}/twilio/status/"
    assert update.field("VoiceFallbackUrl") == update.field("SmsFallbackUrl")
    assert update.field("SmsFallbackUrl") == f"{PUBLIC}/twilio/fallback/"
    assert "Pointed 1 number(s)" in out


def test_configuring_webhooks_needs_the_public_url(db, fake_twilio):
    assert "TELEPHONY_PUBLIC_URL" in fails("sync_twilio_numbers", "--configure-webhooks")
    assert fake_twilio.received == []


def test_sync_twilio_numbers_needs_a_twilio_account(db, settings):
    settings.TELEPHONY_BACKEND = "console"
    assert "TWILIO_ACCOUNT_SID" in fails("sync_twilio_numbers")


def test_sync_twilio_numbers_with_bad_credentials(db, fake_twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    assert "TWILIO_AUTH_TOKEN" in fails("sync_twilio_numbers")
