"""A call's journey as a timeline in staff words, as the call log page shows it.

It starts with the call's log row (who called which number, and the flow that answered:
the voice webhook stores that once, as the row, not again as an event), then the words
of its events (`detail`, written by flows/journey.py when the event happened), in the
order they happened, a line of the timeline per line of `detail` (what the caller heard
through one document is one event of several lines); a step's line is prefixed with the
name of its flow ("Main menu: played ..."). Two queries: the call's events (by their
call_sid index) and the names of the flows they name (as staff call them now, else their
slug); the flow that answered is the row's own (the call log page has read it).
"""

from typing import NamedTuple

from django.utils import timezone

from telephony.models import CallEvent, CallFlow, CallLog, Direction

Kind = CallEvent.Kind

# Events that name their flow in their own words, or belong to no step.
_UNPREFIXED = {Kind.CALL_STARTED, Kind.FLOW_ENTERED, Kind.CALL_ENDED}


class Line(NamedTuple):
    at: str  # local time, 10:02:03
    text: str
    kind: str  # the event's kind, for the page's styles


def timeline(call: CallLog) -> list[Line]:
    events = list(CallEvent.objects.filter(call_sid=call.sid).order_by("at", "pk"))
    if not events:  # a call from before journeys were kept: its row's fields say it all
        return []
    slugs = {event.flow for event in events if event.flow}
    names = dict(CallFlow.objects.filter(slug__in=slugs).values_list("slug", "name"))
    first = []
    if call.direction == Direction.INBOUND and all(e.kind != Kind.CALL_STARTED for e in events):
        first = [call_started(call, events)]
    return [*first, *(each for event in events for each in lines(event, names))]


def call_started(call: CallLog, events: list[CallEvent]) -> Line:
    """The journey's first line, from the call's row: when the call came in (its first
    event's time, the voice webhook's, unless the row is older: it may be written later),
    who called which number, the flow that answered and the release."""
    at = min(call.created_at, events[0].at)
    text = f"call from {call.from_number or 'a withheld number'} to {call.to_number}"
    if call.flow_id is not None:
        text = f"{text} -> {call.flow.name}"
    release = next((event.release for event in events if event.release is not None), None)
    if release is not None:
        text = f"{text} (release {release})"
    return Line(_local(at), text, Kind.CALL_STARTED)


def lines(event: CallEvent, names: dict[str, str]) -> list[Line]:
    """The event's lines. Of what a document said (several lines), the last is the event's
    kind (the menu, the Dial, the hang-up); those before it were heard on the way."""
    texts = (event.detail or event.get_kind_display()).splitlines() or [event.get_kind_display()]
    kinds = [Kind.PROMPT] * (len(texts) - 1) + [event.kind]
    return [
        Line(_local(event.at), text(event, words, names), kind)
        for words, kind in zip(texts, kinds, strict=True)
    ]


def text(event: CallEvent, words: str, names: dict[str, str]) -> str:
    if event.flow and event.kind not in _UNPREFIXED:
        words = f"{names.get(event.flow, event.flow)}: {words}"
    if event.kind == Kind.CALL_STARTED:  # stored by earlier versions
        if event.flow:
            words = f"{words} -> {names.get(event.flow, event.flow)}"
        if event.release is not None:
            words = f"{words} (release {event.release})"
    return words


def _local(at) -> str:
    return timezone.localtime(at).strftime("%H:%M:%S")
