"""Call events (models/journeys.CallEvent): recorded by the webhooks, written with the call rows.

A webhook of a call knows what its answer will do to the caller (flows/journey.py builds
that as `Event`s, cached with the TwiML for what depends only on the release) and hands
it over as one `Journey` record: the call, the time, the release and its events. Like the
call's log row (logs/calls.py), by default the record is queued for the process's one
background writer, so the caller's answer never waits on the database; with
TELEPHONY_CALL_LOG_WRITES=immediate it is written inside the webhook.

Writing a batch (`write()`, inside the writer's transaction) inserts the events, then
moves each call's outcome forward (logs/journeys.py). When a call ends (its final status
callback, CALL_ENDED) the call's earlier events are read once to say who hung up (a
HUNG_UP event, unless the flow ended the call itself) and to settle its outcome from
its whole journey: events written by another worker before the call's row existed
count then too.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from telephony.logs import calls, inserts, journeys
from telephony.models import CallEvent
from telephony.text import storable

Kind = CallEvent.Kind


class Event(NamedTuple):
    """One thing that happened on a call, without the call: what flows/journey.py builds
    once per flow and release, and the webhooks per request."""

    kind: str
    flow: str = ""
    position: int | None = None
    digits: str = ""
    speech: str = ""
    option: str = ""
    try_number: int | None = None
    duration: int | None = None
    detail: str = ""


@dataclass(slots=True)
class Journey:
    """What one webhook of a call adds to its journey."""

    call_sid: str
    at: datetime
    release: int | None
    events: tuple[Event, ...]

    LOST = "the call's timeline will miss these events"


def release_number(release: str) -> int | None:
    """The release a URL names ("7"), None for the draft."""
    return int(release) if release.isdigit() and len(release) < 10 else None


def record(call_sid: str, events, *, release: str = "", at: datetime | None = None) -> None:
    """Add `events` to the journey of call `call_sid`: queued (deferred, the default) or
    written now (immediate; raises the database's error, which the caller logs)."""
    if not call_sid or not events:
        return
    journey = Journey(storable(call_sid, 34), at or timezone.now(), release_number(release), events)
    if settings.TELEPHONY_CALL_LOG_WRITES == "immediate":
        with transaction.atomic(using=router.db_for_write(CallEvent)):  # a savepoint
            write([journey])
    else:
        calls.writer().submit(journey)


def write(batch: list[Journey]) -> None:
    """Insert the events of `batch`, say who hung up on the calls that ended, and move
    the outcomes of their calls forward. Inside a transaction (the writer's)."""
    alias = router.db_for_write(CallEvent)
    ended = {
        journey.call_sid
        for journey in batch
        if any(event.kind == Kind.CALL_ENDED for event in journey.events)
    }
    earlier = _earlier_events(ended)
    rows: list[dict] = []
    by_call: dict[str, list] = {}
    for journey in batch:
        history = by_call.setdefault(journey.call_sid, list(earlier.get(journey.call_sid, ())))
        head = {
            "call_sid": journey.call_sid,
            "at": inserts.prepared(CallEvent, "at", journey.at, alias),  # once for its events
            "release": journey.release,
        }
        for event in journey.events:
            if event.kind == Kind.CALL_ENDED:
                if any(seen.kind == Kind.CALL_ENDED for seen in history):
                    continue  # Twilio retried the final status callback
                hang_up = journeys.hang_up(history)
                if hang_up is not None:
                    rows.append(_row(head, hang_up))
                    history.append(hang_up)
            rows.append(_row(head, event))
            history.append(event)
    inserts.insert(CallEvent, alias, rows)
    # Only the calls that end were read back: the others' outcomes move on this batch's
    # events alone, which is all an outcome can move on (journeys.apply_outcomes).
    journeys.apply_outcomes(
        {call_sid: journeys.outcome(history) for call_sid, history in by_call.items()}
    )


def _row(head: dict, event: Event) -> dict:
    """The event's row, as logs/inserts.py takes it."""
    return {**event._asdict(), **head}


def _earlier_events(call_sids: set[str]) -> dict[str, list[CallEvent]]:
    """The events already stored of the calls that end now: one query, by call_sid."""
    if not call_sids:
        return {}
    earlier: dict[str, list[CallEvent]] = {}
    stored = CallEvent.objects.filter(call_sid__in=call_sids).only(
        "call_sid", "at", "kind", "flow", "position", "option", "try_number"
    )
    for event in stored.order_by("at", "pk"):
        earlier.setdefault(event.call_sid, []).append(event)
    return earlier
