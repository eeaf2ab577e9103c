"""services.send_sms / make_call / queue_step_sms: validation, logging, outcomes."""

import pytest

from telephony import exceptions
from telephony.logs import statuses
from telephony.models import (
    CallFlow,
    CallLog,
    Direction,
    MessageLog,
    OptOut,
    PhoneNumber,
    Step,
    VerifiedCallerId,
)
from telephony.sending import services
from telephony.sending.backends.base import BaseTelephonyBackend, Sent
from tests.fake_twilio import API

pytestmark = pytest.mark.django_db

OURS = "+15005550006"
CALLER = "+14155551234"
PUBLIC = "https://switchboard.example.com"


@pytest.fixture
def ours(db):
    return PhoneNumber.objects.create(number=OURS, friendly_name="Main")


# --- send_sms: the happy path -----------------------------------------------------------------


def test_send_sms_records_and_sends(ours, outbox):
    log = services.send_sms(to="(415) 555-1234", body="Hello")
    [sent] = outbox
    assert (sent.to, sent.from_, sent.body) == (CALLER, OURS, "Hello")
    assert sent.status_callback is None  # no public URL: Twilio cannot call us back
    log.refresh_from_db()
    assert log.direction == Direction.OUTBOUND
    assert (log.to_number, log.from_number, log.body) == (CALLER, OURS, "Hello")
    assert log.sid.startswith("SM") and log.status == "queued"
    assert log.error_code is None and MessageLog.objects.count() == 1


def test_send_sms_passes_media_and_status_callback(ours, outbox, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    log = services.send_sms(to=CALLER, body="", media_urls=["https://example.com/map.png"])
    assert outbox[0].media_urls == ("https://example.com/map.png",)
    assert outbox[0].status_callback == f"{PUBLIC}/twilio/status/"
    assert MessageLog.objects.get(pk=log.pk).media_urls == ["https://example.com/map.png"]


def test_send_sms_through_twilio_records_sid_from_the_fake(ours, fake_twilio, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    log = services.send_sms(to=CALLER, body="Hi", from_=OURS)
    [request] = fake_twilio.received
    assert request.path == f"{API}/Messages.json"
    assert request.field("StatusCallback") == f"{PUBLIC}/twilio/status/"
    assert MessageLog.objects.get().sid == log.sid and log.sid.startswith("SM")


def test_429_then_success_end_to_end(ours, fake_twilio):
    fake_twilio.fail_next(429, 20429, "Too Many Requests")
    log = services.send_sms(to=CALLER, body="Retry me")
    assert len(fake_twilio.received) == 2
    log.refresh_from_db()
    assert log.status == "queued" and log.sid and log.error_code is None


# --- the sender ------------------------------------------------------------------------------


def test_default_sender_is_the_setting_then_the_first_sms_capable_number(db, outbox, settings):
    PhoneNumber.objects.create(number="+14155550100", sms_capable=False)
    PhoneNumber.objects.create(number="+14155550101")
    PhoneNumber.objects.create(number="+14155550102")
    assert services.send_sms(to=CALLER, body="a").from_number == "+14155550101"
    settings.TELEPHONY_DEFAULT_FROM = "+14155550102"
    assert services.send_sms(to=CALLER, body="b").from_number == "+14155550102"


def test_no_sms_capable_number_is_a_configuration_error(db, outbox):
    PhoneNumber.objects.create(number=OURS, sms_capable=False)
    with pytest.raises(exceptions.TelephonyConfigurationError, match="no SMS-capable number"):
        services.send_sms(to=CALLER, body="Hi")
    assert not outbox and not MessageLog.objects.exists()


@pytest.mark.parametrize(
    "sender, message",
    [
        ("+14155550177", "is not one of our numbers"),
        ("+14155550188", "verified caller ID: it can make calls but not send SMS"),
        ("+14155550199", "cannot send SMS"),
        ("not a number", "not a valid phone number"),
    ],
)
def test_senders_that_cannot_send_sms_are_refused(ours, outbox, sender, message):
    VerifiedCallerId.objects.create(number="+14155550188")
    PhoneNumber.objects.create(number="+14155550199", sms_capable=False)
    with pytest.raises(exceptions.TelephonyValidationError, match=message) as raised:
        services.send_sms(to=CALLER, body="Hi", from_=sender)
    assert "from_" in raised.value.message_dict
    assert not outbox and not MessageLog.objects.exists()


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"to": "12", "body": "x"}, "to", "not a valid phone number"),
        ({"to": "+15555550100", "body": "x"}, "to", "not a valid phone number"),
        ({"to": CALLER, "body": "x" * 1601}, "body", "at most 1600 characters; this one has 1601"),
        ({"to": CALLER, "body": "  "}, "body", "needs a body or a media URL"),
        ({"to": CALLER, "body": "x", "media_urls": ["ftp://x"]}, "media_urls", "http"),
    ],
)
def test_bad_input_is_refused_before_anything_is_recorded(ours, outbox, kwargs, field, message):
    with pytest.raises(exceptions.TelephonyValidationError) as raised:
        services.send_sms(**kwargs)
    assert message in raised.value.message_dict[field][0]
    assert not outbox and not MessageLog.objects.exists()


def test_1600_characters_is_allowed(ours, outbox):
    services.send_sms(to=CALLER, body="x" * 1600)
    assert len(outbox[0].body) == 1600


def test_opted_out_recipients_are_refused_without_calling_twilio(ours, fake_twilio):
    OptOut.objects.create(number=CALLER)
    with pytest.raises(exceptions.RecipientOptedOut, match="opted out"):
        services.send_sms(to=CALLER, body="Hi")
    assert fake_twilio.received == [] and not MessageLog.objects.exists()


# --- outcomes are recorded ------------------------------------------------------------------------


class RecordingBackend(BaseTelephonyBackend):
    """Checks that the attempt is in the database before the API would be called."""

    seen: list = []

    def send_sms(self, message):
        row = MessageLog.objects.get(to_number=message.to)
        RecordingBackend.seen.append((row.status, row.sid))
        return Sent(sid="SM" + "1" * 32, status="queued")


class ExplodingBackend(BaseTelephonyBackend):
    def send_sms(self, message):
        raise RuntimeError("backend bug")

    def make_call(self, call):
        raise RuntimeError("backend bug")


class RacingBackend(BaseTelephonyBackend):
    """Twilio's "delivered" callback arrives (and creates its row) before create() returns."""

    def send_sms(self, message):
        MessageLog.objects.create(
            sid="SM" + "2" * 32, direction="outbound", status="delivered", to_number=message.to
        )
        return Sent(sid="SM" + "2" * 32, status="queued")


def test_the_attempt_is_recorded_before_the_backend_is_called(ours, settings):
    settings.TELEPHONY_BACKEND = "tests.test_services.RecordingBackend"
    RecordingBackend.seen.clear()
    log = services.send_sms(to=CALLER, body="Hi")
    assert RecordingBackend.seen == [(statuses.PENDING, None)]
    assert MessageLog.objects.get().sid == log.sid == "SM" + "1" * 32


@pytest.mark.parametrize(
    "code, error_class",
    [(21211, exceptions.InvalidRecipient), (21614, exceptions.CannotReceiveSms)],
)
def test_twilio_errors_are_recorded_then_raised(ours, fake_twilio, code, error_class):
    fake_twilio.fail_next(400, code, "Nope")
    with pytest.raises(error_class):
        services.send_sms(to=CALLER, body="Hi")
    log = MessageLog.objects.get()
    assert (log.status, log.error_code, log.sid) == ("failed", code, None)
    assert f"Twilio error {code}: Nope" in log.error_message


def test_21610_records_the_opt_out_so_the_next_send_is_refused_locally(ours, fake_twilio):
    fake_twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    with pytest.raises(exceptions.RecipientOptedOut):
        services.send_sms(to=CALLER, body="Hi")
    assert OptOut.objects.get().source == OptOut.Source.TWILIO
    with pytest.raises(exceptions.RecipientOptedOut):
        services.send_sms(to=CALLER, body="Again")
    assert len(fake_twilio.received) == 1
    assert MessageLog.objects.count() == 1


def test_unexpected_backend_errors_are_recorded_too(ours, settings):
    settings.TELEPHONY_BACKEND = "tests.test_services.ExplodingBackend"
    with pytest.raises(RuntimeError):
        services.send_sms(to=CALLER, body="Hi")
    log = MessageLog.objects.get()
    assert log.status == "failed" and log.error_message == "backend bug"


def test_a_status_callback_faster_than_create_keeps_one_row(ours, settings):
    settings.TELEPHONY_BACKEND = "tests.test_services.RacingBackend"
    log = services.send_sms(to=CALLER, body="Hi")
    row = MessageLog.objects.get()  # the attempt was folded into the callback's row
    assert row.pk == log.pk and row.sid == "SM" + "2" * 32
    assert row.status == "delivered"  # "queued" from create() did not move it back
    assert (row.body, row.from_number) == ("Hi", OURS)


# --- make_call ----------------------------------------------------------------------------------------


@pytest.fixture
def flow(db):
    return CallFlow.objects.create(name="Menu", slug="menu")


def test_make_call_to_a_flow_needs_the_public_url(ours, flow, fake_twilio):
    with pytest.raises(exceptions.TelephonyConfigurationError, match="TELEPHONY_PUBLIC_URL"):
        services.make_call(to=CALLER, flow=flow)
    assert fake_twilio.received == [] and not CallLog.objects.exists()


def test_make_call_to_a_flow_passes_its_absolute_url(ours, flow, fake_twilio, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    log = services.make_call(to=CALLER, flow="menu")
    [request] = fake_twilio.received
    assert request.path == f"{API}/Calls.json"
    assert request.field("Url") == f"{PUBLIC}/twilio/voice/flows/menu/"
    assert request.field("StatusCallback") == f"{PUBLIC}/twilio/status/"
    assert (request.field("To"), request.field("From")) == (CALLER, OURS)
    log.refresh_from_db()
    assert log.flow == flow and log.sid.startswith("CA") and log.status == "queued"
    assert log.direction == Direction.OUTBOUND and log.url == f"{PUBLIC}/twilio/voice/flows/menu/"


def test_make_call_to_a_url_from_a_verified_caller_id(ours, outbox):
    VerifiedCallerId.objects.create(number="+14155550188")
    log = services.make_call(to=CALLER, url="https://x.example/twiml", from_="+14155550188")
    [call] = outbox
    assert (call.from_, call.url, call.status_callback) == (
        "+14155550188",
        "https://x.example/twiml",
        None,
    )
    assert log.flow is None and log.status == "queued"


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({}, "flow", "either a flow"),
        ({"flow": "menu", "url": "https://x.example/"}, "flow", "not both"),
        ({"flow": "nope"}, "flow", "no call flow 'nope'"),
        ({"url": "/relative/"}, "url", "absolute"),
        ({"url": "https://x.example/", "from_": "+14155550177"}, "from_", "verified caller ID"),
    ],
)
def test_make_call_refuses_bad_input(ours, flow, outbox, settings, kwargs, field, message):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    with pytest.raises(exceptions.TelephonyValidationError) as raised:
        services.make_call(to=CALLER, **kwargs)
    assert message in raised.value.message_dict[field][0]
    assert not outbox and not CallLog.objects.exists()


def test_make_call_refuses_an_inactive_flow(ours, flow, settings):
    settings.TELEPHONY_PUBLIC_URL = PUBLIC
    flow.is_active = False
    flow.save()
    with pytest.raises(exceptions.TelephonyValidationError, match="inactive"):
        services.make_call(to=CALLER, flow=flow)


def test_make_call_failures_are_recorded(ours, fake_twilio):
    fake_twilio.fail_next(400, 21212, "The 'From' number is not valid")
    with pytest.raises(exceptions.SenderNotAllowed):
        services.make_call(to=CALLER, url="https://x.example/twiml")
    log = CallLog.objects.get()
    assert (log.status, log.error_code) == ("failed", 21212)


def test_make_call_records_unexpected_errors(ours, settings):
    settings.TELEPHONY_BACKEND = "tests.test_services.ExplodingBackend"
    with pytest.raises(RuntimeError):
        services.make_call(to=CALLER, url="https://x.example/twiml")
    assert CallLog.objects.get().status == "failed"


# --- queue_step_sms and deliver_pending_sms (a flow's Sms step, sent by a task) ---------------------


def test_a_step_is_queued_once_per_call(ours, flow, outbox, django_capture_on_commit_callbacks):
    step = Step.objects.create(flow=flow, position=1, verb="sms", text="Our address")
    with django_capture_on_commit_callbacks() as enqueues:
        first = services.queue_step_sms(step=step, call_sid="CA1", caller=CALLER, our_number=OURS)
        again = services.queue_step_sms(step=step, call_sid="CA1", caller=CALLER, our_number=OURS)
        other = services.queue_step_sms(step=step, call_sid="CA2", caller=CALLER, our_number=OURS)
    assert first is not None and again is None and other is not None
    assert len(enqueues) == 2  # one task per queued row, run once the row is committed
    assert outbox == []  # nothing is sent here: a task worker sends
    assert set(MessageLog.objects.values_list("status", flat=True)) == {statuses.PENDING}


def test_a_pending_message_is_delivered_once(ours, flow, outbox):
    step = Step.objects.create(flow=flow, position=1, verb="sms", text="Our address")
    log = services.queue_step_sms(step=step, call_sid="CA1", caller=CALLER, our_number=OURS)
    sent = services.deliver_pending_sms(message_id=log.pk)
    assert sent.pk == log.pk and sent.status == "queued" and sent.sid.startswith("SM")
    assert services.deliver_pending_sms(message_id=log.pk) is None  # not pending any more
    assert [m.body for m in outbox] == ["Our address"]


def test_a_step_sent_on_a_voice_only_number_uses_the_default_sender(ours, flow, outbox):
    PhoneNumber.objects.create(number="+14155550199", sms_capable=False)
    step = Step.objects.create(
        flow=flow, position=1, verb="sms", text="Hi", url="https://x.example/a.png"
    )
    log = services.queue_step_sms(
        step=step, call_sid="CA1", caller=CALLER, our_number="+14155550199"
    )
    services.deliver_pending_sms(message_id=log.pk)
    assert outbox[0].from_ == OURS and outbox[0].media_urls == ("https://x.example/a.png",)


# --- opt-outs --------------------------------------------------------------------------------------


def test_record_opt_out_is_idempotent(db):
    services.record_opt_out(number=CALLER, source=OptOut.Source.KEYWORD, keyword="STOP")
    services.record_opt_out(number=CALLER, source=OptOut.Source.KEYWORD, keyword="QUIT")
    assert OptOut.objects.get().keyword == "STOP"
    assert services.remove_opt_out(number=CALLER) is True
    assert services.remove_opt_out(number=CALLER) is False
