"""A call's journey as a timeline in staff words, as the call log page shows it.

The words are the events' own (`detail`, written by flows/journey.py when the event
happened), in the order they happened; a step's event is prefixed with the name of its
flow ("Main menu: played ..."). Two queries: the call's events (by their call_sid index)
and the names of the flows they name (as staff call them now, else their slug).
"""

from typing import NamedTuple

from django.utils import timezone

from telephony.models import CallEvent, CallFlow

Kind = CallEvent.Kind

# Events that name their flow in their own words, or belong to no step.
_UNPREFIXED = {Kind.CALL_STARTED, Kind.FLOW_ENTERED, Kind.CALL_ENDED}


class Line(NamedTuple):
    at: str  # local time, 10:02:03
    text: str
    kind: str  # the event's kind, for the page's styles


def timeline(call_sid: str) -> list[Line]:
    events = list(CallEvent.objects.filter(call_sid=call_sid).order_by("at", "pk"))
    slugs = {event.flow for event in events if event.flow}
    names = dict(CallFlow.objects.filter(slug__in=slugs).values_list("slug", "name"))
    return [line(event, names) for event in events]


def line(event: CallEvent, names: dict[str, str]) -> Line:
    text = event.detail or event.get_kind_display()
    if event.flow and event.kind not in _UNPREFIXED:
        text = f"{names.get(event.flow, event.flow)}: {text}"
    if event.kind == Kind.CALL_STARTED:
        if event.flow:
            text = f"{text} -> {names.get(event.flow, event.flow)}"
        if event.release is not None:
            text = f"{text} (release {event.release})"
    return Line(timezone.localtime(event.at).strftime("%H:%M:%S"), text, event.kind)
