"""The TwiML documents the voice webhooks answer with, rendered once per worker.

A flow's TwiML depends only on its release (and settings), never on the call, so each
worker renders it once and keeps the XML: for good for a published release, until the
next change for the draft (see flows/cache.py). This module only caches; `twiml` stays
pure and does the rendering.

Hours steps. A flow with Hours steps depends on the time of the call too, but only
through each step's decision, open or closed: so the decisions (flows/schedules.py, made
in memory from the release's schedules, a few microseconds) are part of the cache key,
and the flow is rendered once per release and combination of decisions (two for one
Hours step). A warm call to such a flow costs no query either. The branches render as a
Redirect to the chosen flow of the same release, or as nothing (the steps after it).

Why not a webhook of its own for the decision (the step a Redirect to
`.../steps/<n>/hours/`, answering with the branch)? It would cost every call one more
round trip from Twilio before the caller hears anything, and change the TwiML of every
flow with an Hours step even while open; deciding when the flow's document is fetched
is as good, since its steps before the Hours step take seconds at most.
"""

from collections.abc import Callable, Mapping
from functools import cache as forever
from typing import NamedTuple

from telephony.flows import cache, journey, schedules, twiml
from telephony.flows.fixtures import LoadedFlow, stored_pk
from telephony.flows.loading import snapshot
from telephony.phone_numbers import e164


def _decided(loaded: LoadedFlow, hours: Mapping | None) -> tuple[tuple, Mapping | None]:
    """The cache key's part for `loaded`'s Hours decisions, and the decisions."""
    if not loaded.hours_steps:
        return (), None
    if hours is None:
        hours = schedules.decide_flow(loaded, schedules.now())
    return (tuple(sorted(position for position, got in hours.items() if got.open)),), hours


def flow_twiml(loaded: LoadedFlow, hours: Mapping | None = None) -> str:
    """`twiml.render_flow(loaded)` as XML, rendered once per flow and release (and per
    combination of its Hours steps' decisions: `hours`, default: decided now)."""
    opened, hours = _decided(loaded, hours)
    return cache.for_release(
        loaded.release,
        ("twiml", loaded.slug, *opened),
        lambda: twiml.render_flow(loaded, hours=hours).to_xml(),
        try_anyway=True,  # rendering reads no database: a worker holding the release can
    )


def flow_events(loaded: LoadedFlow, hours: Mapping | None = None) -> tuple:
    """What `flow_twiml(loaded, hours)` does to a caller, as call events (flows/journey.py),
    built once per flow, release and combination of decisions, as the XML is."""
    opened, hours = _decided(loaded, hours)
    return cache.for_release(
        loaded.release,
        ("events", loaded.slug, *opened),
        lambda: journey.flow(loaded, hours),
        try_anyway=True,
    )


@forever
def goodbye_twiml(message: str) -> str:
    """`twiml.goodbye(message)` as XML; the messages are constants, so never invalidated."""
    return twiml.goodbye(message).to_xml()


@forever
def goodbye_events(message: str) -> tuple:
    """What `goodbye_twiml(message)` does, as call events."""
    return journey.goodbye(message)


@forever
def reject_twiml(reason: str) -> str:
    """`<Reject reason="busy|rejected"/>`: the caller hears a busy signal, or that the
    number is not in service, and nothing is billed."""
    return twiml.reject(reason).to_xml()


MAX_NUMBER_LENGTH = 20  # E.164 is at most 16 characters


class VoiceAnswer(NamedTuple):
    """How the voice webhook answers a call to a number, and the flow the call log names."""

    xml: str
    flow_id: int | None = None
    flow_slug: str = ""
    flow: LoadedFlow | None = None
    # What the answer does to the caller (flows/journey.py). No FLOW_ENTERED: the call's
    # log row names the flow it starts in (logs/timeline.py).
    events: tuple = ()


HoursDecider = Callable[[LoadedFlow], Mapping]


def voice_answer(release: str, to: str, *, hours: HoursDecider | None = None) -> VoiceAnswer:
    """The answer of `release` ("7", "draft"; "" when none is live) to a call to `to`, the
    number as Twilio sent it.

    One cache entry per release and number called, holding the flow's XML itself: reading
    the number (E.164), its flow and the rendering are all one lookup on the call's
    critical path. Twilio writes our numbers the same way on every call, so the entries
    are as many as our numbers (and bounded like every entry). A flow with Hours steps
    is looked up by its decisions (`hours(flow)`, default: decided now) in a second entry.
    """
    if not release or len(to) > MAX_NUMBER_LENGTH:  # nothing published, or no number
        return _goodbye(twiml.NOT_IN_SERVICE)
    answer = cache.for_release(release, ("voice", to), lambda: _voice_answer(release, e164(to)))
    if answer.flow is not None and answer.flow.hours_steps:
        decided = hours(answer.flow) if hours is not None else None
        return answer._replace(
            xml=flow_twiml(answer.flow, decided), events=flow_events(answer.flow, decided)[1:]
        )
    return answer


def _goodbye(message: str) -> VoiceAnswer:
    return VoiceAnswer(goodbye_twiml(message), events=goodbye_events(message))


def _voice_answer(release: str, number: str | None) -> VoiceAnswer:
    loaded_release = snapshot(release)
    if number is None or loaded_release is None:  # `To` was no phone number
        return _goodbye(twiml.NOT_IN_SERVICE)
    phone, loaded = loaded_release.flow_for_number(number)
    if phone is None:
        return _goodbye(twiml.NOT_IN_SERVICE)
    if loaded is None:
        return _goodbye(twiml.UNAVAILABLE)
    if loaded.hours_steps:  # decided per call (above)
        return VoiceAnswer("", stored_pk(loaded.flow), loaded.slug, loaded)
    # The call's log row names the flow it starts in: no FLOW_ENTERED of its own.
    xml, events = flow_twiml(loaded), flow_events(loaded)[1:]
    return VoiceAnswer(xml, stored_pk(loaded.flow), loaded.slug, loaded, events)


def caller_rule_answer(release: str, rule, *, hours: HoursDecider | None = None) -> VoiceAnswer:
    """The answer to a call a caller rule of `release` applies to (flows/callers.py)."""
    if rule.action != rule.Action.FLOW:
        return VoiceAnswer(reject_twiml(rule.action), events=journey.refused(rule.action))
    loaded_release = snapshot(release)
    loaded = loaded_release.flow(rule.flow.slug) if loaded_release and rule.flow else None
    if loaded is None:
        return _goodbye(twiml.UNAVAILABLE)
    decided = hours(loaded) if hours is not None and loaded.hours_steps else None
    return VoiceAnswer(
        flow_twiml(loaded, decided),
        stored_pk(loaded.flow),
        loaded.slug,
        events=flow_events(loaded, decided)[1:],
    )
