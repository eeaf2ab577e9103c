"""The TwiML documents the voice webhooks answer with, rendered once per worker.

A flow's TwiML depends only on its release (and settings), never on the call, so each
worker renders it once and keeps the XML: for good for a published release, until the
next change for the draft (see flows/cache.py). This module only caches; `twiml` stays
pure and does the rendering.
"""

from functools import cache as forever
from typing import NamedTuple

from telephony.flows import cache, twiml
from telephony.flows.fixtures import LoadedFlow, stored_pk
from telephony.flows.loading import snapshot
from telephony.phone_numbers import e164


def flow_twiml(loaded: LoadedFlow) -> str:
    """`twiml.render_flow(loaded)` as XML, rendered once per flow and release."""
    return cache.for_release(
        loaded.release,
        ("twiml", loaded.slug),
        lambda: twiml.render_flow(loaded).to_xml(),
        try_anyway=True,  # rendering reads no database: a worker holding the release can
    )


@forever
def goodbye_twiml(message: str) -> str:
    """`twiml.goodbye(message)` as XML; the messages are constants, so never invalidated."""
    return twiml.goodbye(message).to_xml()


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


def voice_answer(release: str, to: str) -> VoiceAnswer:
    """The answer of `release` ("7", "draft"; "" when none is live) to a call to `to`, the
    number as Twilio sent it.

    One cache entry per release and number called, holding the flow's XML itself: reading
    the number (E.164), its flow and the rendering are all one lookup on the call's
    critical path. Twilio writes our numbers the same way on every call, so the entries
    are as many as our numbers (and bounded like every entry)."""
    if not release or len(to) > MAX_NUMBER_LENGTH:  # nothing published, or no number
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    return cache.for_release(release, ("voice", to), lambda: _voice_answer(release, e164(to)))


def _voice_answer(release: str, number: str | None) -> VoiceAnswer:
    loaded_release = snapshot(release)
    if number is None or loaded_release is None:  # `To` was no phone number
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    phone, loaded = loaded_release.flow_for_number(number)
    if phone is None:
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    if loaded is None:
        return VoiceAnswer(goodbye_twiml(twiml.UNAVAILABLE))
    return VoiceAnswer(flow_twiml(loaded), stored_pk(loaded.flow), loaded.slug)


def caller_rule_answer(release: str, rule) -> VoiceAnswer:
    """The answer to a call a caller rule of `release` applies to (flows/callers.py)."""
    if rule.action != rule.Action.FLOW:
        return VoiceAnswer(reject_twiml(rule.action))
    loaded_release = snapshot(release)
    loaded = loaded_release.flow(rule.flow.slug) if loaded_release and rule.flow else None
    if loaded is None:
        return VoiceAnswer(goodbye_twiml(twiml.UNAVAILABLE))
    return VoiceAnswer(flow_twiml(loaded), stored_pk(loaded.flow), loaded.slug)
