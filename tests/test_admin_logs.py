"""The admin for logs, opt-outs and SMS rules, and its test SMS / test call forms."""

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages

from telephony.models import CallFlow, CallLog, MessageLog, OptOut, PhoneNumber, SmsRule

pytestmark = pytest.mark.django_db

OURS = "+15005550006"
CALLER = "+14155551234"
SMS_FORM = "/admin/telephony/messagelog/send-test-sms/"
CALL_FORM = "/admin/telephony/calllog/start-test-call/"


@pytest.fixture
def ours(db):
    return PhoneNumber.objects.create(number=OURS, friendly_name="Main")


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- logs: read-only, searchable, filterable ------------------------------------------------


@pytest.fixture
def logs(db):
    MessageLog.objects.create(
        sid="SM" + "1" * 32, direction="inbound", from_number=CALLER, to_number=OURS, body="HOURS"
    )
    MessageLog.objects.create(
        sid="SM" + "2" * 32,
        direction="outbound",
        from_number=OURS,
        to_number="+14155550100",
        body="Your code is 42",
        status="failed",
        error_code=21610,
    )
    CallLog.objects.create(sid="CA" + "1" * 32, direction="inbound", from_number=CALLER)


def test_message_log_list_search_and_filters(admin_client, logs):
    page = admin_client.get("/admin/telephony/messagelog/").content.decode()
    assert "HOURS" in page and "Your code is 42" in page
    assert "Send a test SMS" in page
    found = admin_client.get("/admin/telephony/messagelog/", {"q": "code is"}).content.decode()
    assert "Your code is 42" in found and "HOURS" not in found
    inbound = admin_client.get("/admin/telephony/messagelog/", {"direction": "inbound"})
    assert "HOURS" in inbound.content.decode()
    assert "Your code is 42" not in inbound.content.decode()
    by_error = admin_client.get("/admin/telephony/messagelog/", {"error_code": "21610"})
    assert "Your code is 42" in by_error.content.decode()


def test_logs_are_read_only(admin_client, logs):
    log = MessageLog.objects.get(direction="inbound")
    page = admin_client.get(f"/admin/telephony/messagelog/{log.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    response = admin_client.post(
        f"/admin/telephony/messagelog/{log.pk}/change/", {"body": "rewritten"}
    )
    assert response.status_code == 403
    assert MessageLog.objects.get(pk=log.pk).body == "HOURS"
    assert admin_client.get("/admin/telephony/messagelog/add/").status_code == 403
    assert admin_client.get(f"/admin/telephony/calllog/{log.pk}/delete/").status_code in (
        302,
        403,
    )
    assert CallLog.objects.count() == 1


def test_call_log_list_and_search(admin_client, logs):
    page = admin_client.get("/admin/telephony/calllog/", {"q": CALLER}).content.decode()
    assert "CA" + "1" * 32 in page and "Start a test call" in page


# --- the test SMS form -----------------------------------------------------------------------------


def test_send_a_test_sms_from_the_admin(admin_client, ours, outbox):
    assert admin_client.get(SMS_FORM).status_code == 200
    response = admin_client.post(SMS_FORM, {"to": CALLER, "from_": OURS, "body": "Hello"})
    log = MessageLog.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/telephony/messagelog/{log.pk}/change/"
    assert texts(response) == [f"Sent: {log.sid} from {OURS} to {CALLER}, status queued."]
    assert (outbox[0].to, outbox[0].body) == (CALLER, "Hello")


def test_bad_input_is_shown_on_the_form(admin_client, ours, outbox):
    response = admin_client.post(SMS_FORM, {"to": "12", "body": "Hello"})
    assert response.status_code == 200
    assert "12 is not a valid phone number" in response.content.decode()
    assert outbox == [] and not MessageLog.objects.exists()


def test_twilio_refusals_are_reported_and_logged(admin_client, ours, fake_twilio):
    fake_twilio.fail_next(400, 21608, "The number is unverified")
    response = admin_client.post(SMS_FORM, {"to": CALLER, "body": "Hello"})
    [message] = texts(response)
    assert message.startswith("Not sent:") and "trial account" in message
    assert MessageLog.objects.get().error_code == 21608


def test_opted_out_numbers_are_refused_in_the_admin(admin_client, ours, outbox):
    OptOut.objects.create(number=CALLER)
    response = admin_client.post(SMS_FORM, {"to": CALLER, "body": "Hello"})
    assert "opted out" in texts(response)[0] and outbox == []


# --- the test call form ----------------------------------------------------------------------------


def test_start_a_test_call_to_a_flow(admin_client, ours, fake_twilio, settings):
    settings.TELEPHONY_PUBLIC_URL = "https://switchboard.example.com"
    CallFlow.objects.create(name="Menu", slug="menu")
    response = admin_client.post(CALL_FORM, {"to": CALLER, "flow": "menu"})
    log = CallLog.objects.get()
    assert response["Location"] == f"/admin/telephony/calllog/{log.pk}/change/"
    assert fake_twilio.received[0].field("Url").endswith("/twilio/voice/flows/menu/")
    assert texts(response)[0].startswith(f"Sent: {log.sid}")


def test_a_test_call_without_public_url_explains_why(admin_client, ours, outbox):
    CallFlow.objects.create(name="Menu", slug="menu")
    response = admin_client.post(CALL_FORM, {"to": CALLER, "flow": "menu"})
    assert "TELEPHONY_PUBLIC_URL" in texts(response)[0] and outbox == []


def test_a_test_call_needs_a_flow_or_url(admin_client, ours, outbox):
    response = admin_client.post(CALL_FORM, {"to": CALLER})
    assert response.status_code == 200
    assert "Give either a flow to run or a TwiML URL" in response.content.decode()


# --- permissions ----------------------------------------------------------------------------------


def test_staff_without_the_add_permission_cannot_send(client, ours, outbox):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_messagelog"))
    client.force_login(user)
    page = client.get("/admin/telephony/messagelog/")
    assert page.status_code == 200 and "Send a test SMS" not in page.content.decode()
    assert client.post(SMS_FORM, {"to": CALLER, "body": "x"}).status_code == 403
    assert outbox == []


# --- SMS rules inline on the phone number, opt-outs ------------------------------------------------


def number_form(number, rules):
    data = {
        "number": str(number.number),
        "friendly_name": number.friendly_name,
        "sid": "",
        "voice_capable": "on",
        "sms_capable": "on",
        "call_flow": "",
        "sms_rules-TOTAL_FORMS": str(len(rules)),
        "sms_rules-INITIAL_FORMS": "0",
        "sms_rules-MIN_NUM_FORMS": "0",
        "sms_rules-MAX_NUM_FORMS": "1000",
    }
    for i, (keyword, reply) in enumerate(rules):
        data.update({f"sms_rules-{i}-keyword": keyword, f"sms_rules-{i}-reply": reply})
        data[f"sms_rules-{i}-media_url"] = ""
    return data


def test_sms_rules_are_edited_inline_on_the_number(admin_client, ours):
    url = f"/admin/telephony/phonenumber/{ours.pk}/change/"
    assert "SMS auto-replies" in admin_client.get(url).content.decode()
    response = admin_client.post(url, number_form(ours, [(" hours ", "9-5"), ("", "Hi!")]))
    assert response.status_code == 302
    assert sorted(SmsRule.objects.values_list("keyword", "reply")) == [
        ("", "Hi!"),
        ("HOURS", "9-5"),
    ]


def test_reserved_keywords_are_refused_inline(admin_client, ours):
    url = f"/admin/telephony/phonenumber/{ours.pk}/change/"
    response = admin_client.post(url, number_form(ours, [("stop", "bye")]))
    assert response.status_code == 200
    assert "opt-out/opt-in keyword" in response.content.decode()
    assert not SmsRule.objects.exists()


def test_staff_can_record_and_list_opt_outs(admin_client, db):
    response = admin_client.post(
        "/admin/telephony/optout/add/", {"number": CALLER, "source": "staff", "keyword": ""}
    )
    assert response.status_code == 302
    assert str(OptOut.objects.get().number) == CALLER
    assert CALLER in admin_client.get("/admin/telephony/optout/").content.decode()


def test_two_rows_with_the_same_keyword_are_refused_inline(admin_client, ours):
    url = f"/admin/telephony/phonenumber/{ours.pk}/change/"
    response = admin_client.post(url, number_form(ours, [("hours", "a"), (" HOURS", "b")]))
    assert response.status_code == 200
    assert "Another rule of this number has the same keyword." in response.content.decode()
    assert not SmsRule.objects.exists()
