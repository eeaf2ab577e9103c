"""The outcome rules (telephony/logs/journeys.py): the strongest event wins, in any order,
and a row's outcome only ever moves up; who hung up, from where the journey stood."""

import itertools

import pytest

from telephony.logs import journeys
from telephony.logs.events import Event
from telephony.models import CallEvent, CallLog, CallOutcome

Kind = CallEvent.Kind

DIAL_NO_ANSWER = Event(Kind.DIAL_ENDED, option="no-answer")
DIAL_ANSWERED = Event(Kind.DIAL_ENDED, option="completed")
NOT_ACCEPTED = Event(Kind.DIAL_ENDED, option=journeys.NOT_ACCEPTED)
VOICEMAIL = Event(Kind.VOICEMAIL)
IN_MENU = Event(Kind.HUNG_UP, option=journeys.BY_CALLER_IN_MENU)
ENDED = Event(Kind.CALL_ENDED, option="completed")
MENU = Event(Kind.PROMPT, try_number=1)


@pytest.mark.parametrize(
    ("happened", "expected"),
    [
        ([], None),
        ([MENU], None),
        ([ENDED], CallOutcome.COMPLETED),
        ([Event(Kind.CALL_ENDED, option="failed")], CallOutcome.FAILED),
        ([Event(Kind.CALL_ENDED, option="canceled")], CallOutcome.MISSED),
        ([DIAL_NO_ANSWER, ENDED], CallOutcome.MISSED),
        ([NOT_ACCEPTED, ENDED], CallOutcome.MISSED),
        ([DIAL_NO_ANSWER, VOICEMAIL, ENDED], CallOutcome.VOICEMAIL),
        ([DIAL_NO_ANSWER, DIAL_ANSWERED, ENDED], CallOutcome.ANSWERED),
        ([MENU, IN_MENU, ENDED], CallOutcome.ABANDONED),
        ([DIAL_NO_ANSWER, IN_MENU, ENDED], CallOutcome.ABANDONED),
        ([VOICEMAIL, IN_MENU, ENDED], CallOutcome.VOICEMAIL),
        ([Event(Kind.CALLER_RULE, option="busy"), ENDED], CallOutcome.REJECTED),
        ([Event(Kind.CALLER_RULE, option="flow"), ENDED], CallOutcome.COMPLETED),
        ([Event(Kind.QUEUE_LEFT, option="bridged")], CallOutcome.ANSWERED),
        ([Event(Kind.QUEUE_LEFT, option="hangup")], CallOutcome.MISSED),
        ([Event(Kind.CONFERENCE, option="room")], CallOutcome.ANSWERED),
    ],
)
def test_the_strongest_event_says_the_outcome_in_any_order(happened, expected):
    for order in itertools.permutations(happened):
        assert journeys.outcome(order) == expected


@pytest.mark.parametrize(
    ("last", "who"),
    [
        (MENU, journeys.BY_CALLER_IN_MENU),
        (Event(Kind.DIAL_STARTED), journeys.BY_CALLER_RINGING),
        (Event(Kind.QUEUE_ENTERED), journeys.BY_CALLER_IN_QUEUE),
        (DIAL_ANSWERED, journeys.AFTER_CONVERSATION),
        (Event(Kind.PROMPT), journeys.BY_CALLER),
    ],
)
def test_who_hung_up_is_where_the_journey_stood(last, who):
    history = [Event(Kind.CALL_STARTED), last, Event(Kind.SMS_SENT)]  # a text is no place
    assert journeys.hang_up(history).option == who


def test_a_flow_that_hung_up_itself_needs_no_other_hang_up():
    hung_up = Event(Kind.HUNG_UP, option=journeys.BY_SWITCHBOARD)
    assert journeys.hang_up([MENU, hung_up]) is None


@pytest.mark.django_db
def test_an_outcome_only_moves_up():
    CallLog.objects.create(sid="CA1", direction="inbound")
    CallLog.objects.create(sid="CA2", direction="inbound", outcome=CallOutcome.ANSWERED)
    journeys.apply_outcomes({"CA1": CallOutcome.MISSED, "CA2": CallOutcome.MISSED})
    journeys.apply_outcomes({"CA1": CallOutcome.VOICEMAIL, "CA3": CallOutcome.VOICEMAIL})
    journeys.apply_outcomes({"CA1": CallOutcome.COMPLETED, "CA2": None})
    outcomes = dict(CallLog.objects.values_list("sid", "outcome"))
    assert outcomes == {"CA1": CallOutcome.VOICEMAIL, "CA2": CallOutcome.ANSWERED}


@pytest.mark.django_db
def test_one_update_per_outcome_named(django_assert_num_queries):
    for i in range(6):
        CallLog.objects.create(sid=f"CA{i}", direction="inbound")
    with django_assert_num_queries(2):
        journeys.apply_outcomes(
            {f"CA{i}": CallOutcome.MISSED if i % 2 else CallOutcome.ANSWERED for i in range(6)}
        )
    assert CallLog.objects.filter(outcome=CallOutcome.ANSWERED).count() == 3
