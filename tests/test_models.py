"""Validation rules in clean(), E.164 normalisation and natural keys."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from telephony.models import (
    CallFlow,
    CallLog,
    MenuOption,
    MessageLog,
    PhoneNumber,
    Step,
    VerifiedCallerId,
    option_fits_gather,
)
from tests.factories import make_flow, make_number

pytestmark = pytest.mark.django_db


def errors_of(instance) -> dict:
    with pytest.raises(ValidationError) as info:
        instance.full_clean()
    return info.value.message_dict


def step(**fields) -> Step:
    flow = CallFlow.objects.get_or_create(slug="f", defaults={"name": "F"})[0]
    return Step(flow=flow, position=1, **fields)


def test_phone_number_is_normalised_to_e164():
    number = PhoneNumber(number="(415) 555-0100")
    number.full_clean()
    number.save()
    assert str(PhoneNumber.objects.get().number) == "+14155550100"


@pytest.mark.parametrize("bad", ["12", "not a number", "+1415555010099999"])
def test_bad_phone_numbers_are_refused(bad):
    assert "number" in errors_of(PhoneNumber(number=bad))


def test_phone_numbers_are_unique():
    make_number("+14155550100")
    assert "number" in errors_of(PhoneNumber(number="+14155550100"))


def test_say_needs_text_within_twilios_limit():
    assert "text" in errors_of(step(verb="say", text=""))
    message = errors_of(step(verb="say", text="x" * 4097))["text"][0]
    assert "4096" in message
    step(verb="say", text="x" * 4096).full_clean()


def test_play_needs_a_url():
    assert "url" in errors_of(step(verb="play"))
    assert "url" in errors_of(step(verb="play", url="not a url"))


def test_gather_timeout_and_num_digits_must_be_positive():
    errors = errors_of(step(verb="gather", num_digits=0, timeout=0))
    assert "numDigits" in errors["num_digits"][0]
    assert "timeout" in errors
    step(verb="gather", num_digits=1, timeout=5).full_clean()


def test_gather_finish_on_key_is_one_key():
    assert "finish_on_key" in errors_of(step(verb="gather", finish_on_key="x"))


def test_dial_needs_a_valid_number():
    assert "dial_target" in errors_of(step(verb="dial", dial_target=""))
    assert "E.164" in errors_of(step(verb="dial", dial_target="12345"))["dial_target"][0]
    ok = step(verb="dial", dial_target="(415) 555-0100")
    ok.full_clean()
    assert ok.dial_target == "+14155550100"


def test_dial_client_and_queue_names():
    step(verb="dial", dial_kind="client", dial_target="agent_7").full_clean()
    assert "dial_target" in errors_of(step(verb="dial", dial_kind="queue", dial_target="bad name!"))


def test_dial_caller_id_must_be_ours_or_verified():
    message = errors_of(step(verb="dial", dial_target="+14155550100", caller_id="+14155550199"))[
        "caller_id"
    ][0]
    assert "verified caller ID" in message
    make_number("+14155550199")
    step(verb="dial", dial_target="+14155550100", caller_id="+14155550199").full_clean()
    VerifiedCallerId.objects.create(number="+14155550188")
    step(verb="dial", dial_target="+14155550100", caller_id="+14155550188").full_clean()


def test_redirect_needs_exactly_one_target():
    assert "next_flow" in errors_of(step(verb="redirect"))
    target = make_flow("t")
    assert "url" in errors_of(step(verb="redirect", next_flow=target, url="https://x.example.com/"))
    step(verb="redirect", next_flow=target).full_clean()


def test_enqueue_needs_a_queue_name():
    assert "dial_target" in errors_of(step(verb="enqueue"))
    step(verb="enqueue", dial_target="support").full_clean()


def test_record_max_length_bounds():
    assert "max_length" in errors_of(step(verb="record", max_length=0))
    assert "max_length" in errors_of(step(verb="record", max_length=14401))


def test_option_needs_keys_or_words_and_a_target():
    flow = make_flow("m")
    errors = errors_of(MenuOption(flow=flow))
    assert "digits" in errors and "target_flow" in errors
    assert "digits" in errors_of(MenuOption(flow=flow, digits="1a", target_flow=flow))


def test_option_digits_are_unique_per_flow():
    target = make_flow("t")
    flow = make_flow("m", options=[("1", target)])
    errors = errors_of(MenuOption(flow=flow, digits="1", target_flow=target))
    assert "already" in str(errors)


def test_option_fits_gather():
    gather = Step(verb="gather", num_digits=1, input="dtmf")
    assert option_fits_gather("1", gather) is None
    assert "1 key" in option_fits_gather("12", gather)
    assert "ends the Gather" in option_fits_gather("#", Step(verb="gather", input="dtmf"))
    assert "speech only" in option_fits_gather("1", Step(verb="gather", input="speech"))
    assert option_fits_gather("", gather) is None


def test_natural_keys():
    flow = make_flow("main", steps=[{"verb": "say", "text": "hi"}])
    number = make_number("+14155550100", flow)
    assert CallFlow.objects.get_by_natural_key("main") == flow
    assert PhoneNumber.objects.get_by_natural_key("+14155550100") == number
    assert number.natural_key() == ("+14155550100",)
    first = flow.steps.get()
    assert Step.objects.get_by_natural_key("main", 1) == first


def test_enqueue_queue_name_at_most_64_characters():
    assert "64" in errors_of(step(verb="enqueue", dial_target="q" * 65))["dial_target"][0]
    step(verb="enqueue", dial_target="q" * 64).full_clean()


@pytest.mark.parametrize("model", [CallLog, MessageLog])
def test_log_sids_are_unique_but_many_rows_may_have_none(model):
    model.objects.create(sid="SM1", direction="inbound")
    model.objects.create(sid=None, direction="outbound")
    model.objects.create(sid=None, direction="outbound")  # attempts not yet sent
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(sid="SM1", direction="inbound")


@pytest.mark.parametrize("model", [CallLog, MessageLog])
def test_log_tables_carry_no_extra_pattern_ops_indexes(model):
    # Each call or message inserts a row: every index is paid for on every webhook. No
    # second "_like" index of the kind Django adds to unique=/db_index= CharFields; the
    # number columns have one index each, pattern_ops itself (the search by a number's
    # beginning uses it, and so do exact lookups by number).
    if connection.vendor != "postgresql":
        pytest.skip("varchar_pattern_ops indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", [model._meta.db_table]
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert not [d for d in definitions if "_like" in d]
    numbers = [d for d in definitions if "from_number" in d or "to_number" in d]
    assert len(numbers) == 2
    assert all("varchar_pattern_ops" in d and "created_at" in d for d in numbers)
    assert not [d for d in definitions if "pattern_ops" in d and d not in numbers]
    assert any("UNIQUE" in d and "(sid)" in d for d in definitions)
    assert any("(status, created_at)" in d for d in definitions)
