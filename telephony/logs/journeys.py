"""How a call ended, from its events: the rules for `CallLog.outcome`, and who hung up.

Each event may say something of the outcome (`outcome_of`): a Dial answered, a
voicemail, a caller rule that refused the call... A call's outcome is the strongest its
events say (`RANKS`): reaching someone beats leaving a voicemail, which beats being
refused, hanging up in a menu, nobody answering, and hearing the flow to its end.
Because the strongest wins, events may be applied in any order and more than once (the
webhooks of a call reach different workers, and Twilio retries): `apply_outcomes()`
only ever moves a row's outcome up, in one conditional UPDATE, as logs/statuses.py does
for statuses.

Who hung up (`hang_up`) is decided when the call ends, from where its journey stood:
waiting in a menu (the caller hung up in the menu: abandoned), ringing someone, waiting
in a queue, after a conversation, or anywhere else (the caller). A flow that ended the
call itself (a Hangup or Reject step, a goodbye) has said so with its own HUNG_UP event.

Events are anything with the CallEvent fields used here (kind, option, try_number):
CallEvent rows and logs/events.Event tuples alike.
"""

from django.db.models import Q

from telephony.models import CallEvent, CallLog, CallOutcome

Kind = CallEvent.Kind

RANKS = {
    CallOutcome.FAILED: 0,
    CallOutcome.COMPLETED: 1,
    CallOutcome.MISSED: 2,
    CallOutcome.ABANDONED: 3,
    CallOutcome.REJECTED: 4,
    CallOutcome.VOICEMAIL: 5,
    CallOutcome.ANSWERED: 6,
}

# HUNG_UP events' `option`: who ended the call, and where.
BY_CALLER_IN_MENU = "caller-in-menu"
BY_CALLER_RINGING = "caller-ringing"
BY_CALLER_IN_QUEUE = "caller-in-queue"
BY_CALLER = "caller"
AFTER_CONVERSATION = "after-conversation"
BY_SWITCHBOARD = "switchboard"

# DIAL_ENDED's option is Twilio's DialCallStatus, except for a screened call that the
# person answering did not accept: answered, but the caller never reached them.
NOT_ACCEPTED = "not-accepted"
# QUEUE_LEFT's option is Twilio's QueueResult; these mean someone took the call.
QUEUE_ANSWERED = frozenset({"bridged", "bridging-in-process"})
# CALL_ENDED's option is the final CallStatus.
CALL_FAILED = frozenset({"failed"})
CALL_NOT_ANSWERED = frozenset({"busy", "no-answer", "canceled"})
REFUSING_RULES = frozenset({"busy", "rejected"})  # CallerRule actions that refuse


def outcome_of(event) -> str | None:
    """What this one event says of how the call went (None: nothing)."""
    kind, option = event.kind, event.option
    if kind == Kind.DIAL_ENDED:
        return CallOutcome.ANSWERED if option == "completed" else CallOutcome.MISSED
    if kind == Kind.QUEUE_LEFT:
        return CallOutcome.ANSWERED if option in QUEUE_ANSWERED else CallOutcome.MISSED
    if kind == Kind.CONFERENCE:
        return CallOutcome.ANSWERED
    if kind == Kind.VOICEMAIL:
        return CallOutcome.VOICEMAIL
    if kind == Kind.CALLER_RULE and option in REFUSING_RULES:
        return CallOutcome.REJECTED
    if kind == Kind.HUNG_UP:
        if option == BY_CALLER_IN_MENU:
            return CallOutcome.ABANDONED
        if option in (BY_CALLER_RINGING, BY_CALLER_IN_QUEUE):
            return CallOutcome.MISSED
        return None
    if kind == Kind.CALL_ENDED:
        if option in CALL_FAILED:
            return CallOutcome.FAILED
        if option in CALL_NOT_ANSWERED:
            return CallOutcome.MISSED
        return CallOutcome.COMPLETED
    return None


def outcome(events) -> str | None:
    """The strongest outcome `events` say (None: none says any yet)."""
    best = None
    for event in events:
        said = outcome_of(event)
        if said is not None and (best is None or RANKS[said] > RANKS[best]):
            best = said
    return best


def hang_up(history):
    """The HUNG_UP event for a call that ends now after `history` (its events so far, in
    order), or None when the flow ended the call itself. It names where the caller was
    (the flow and step of the journey's last event)."""
    from telephony.logs.events import Event  # events.py imports this module

    last = None
    for event in history:
        if event.kind == Kind.HUNG_UP:
            return None
        if event.kind not in (Kind.SMS_SENT, Kind.VOICEMAIL, Kind.CALL_ENDED):
            last = event
    who, words = BY_CALLER, "caller hung up"
    if last is not None and last.kind == Kind.PROMPT and last.try_number is not None:
        who, words = BY_CALLER_IN_MENU, "caller hung up in the menu"  # it waited for them
    elif last is not None and last.kind == Kind.DIAL_STARTED:
        who, words = BY_CALLER_RINGING, "caller hung up while it rang"
    elif last is not None and last.kind == Kind.QUEUE_ENTERED:
        who, words = BY_CALLER_IN_QUEUE, "caller hung up while waiting"
    elif last is not None and outcome_of(last) == CallOutcome.ANSWERED:
        who, words = AFTER_CONVERSATION, "hung up after the conversation"
    where = {"flow": last.flow, "position": last.position} if last is not None else {}
    return Event(Kind.HUNG_UP, option=who, detail=words, **where)


def at_least(outcome: str) -> list[str]:
    """The outcomes `outcome` may not replace: those as strong or stronger."""
    return [other for other, rank in RANKS.items() if rank >= RANKS[outcome]]


def apply_outcomes(outcomes: dict[str, str | None]) -> None:
    """Move each call's outcome (by CallSid) up to the one given, never down: one UPDATE
    per outcome named (at most seven), weakest first."""
    by_outcome: dict[str, list[str]] = {}
    for call_sid, said in outcomes.items():
        if said is not None:
            by_outcome.setdefault(said, []).append(call_sid)
    for said in sorted(by_outcome, key=RANKS.__getitem__):
        CallLog.objects.filter(Q(sid__in=by_outcome[said]) & ~Q(outcome__in=at_least(said))).update(
            outcome=said
        )
