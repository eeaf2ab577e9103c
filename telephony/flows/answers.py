"""Rendered TwiML documents the webhooks answer with, cached per worker.

A flow's TwiML depends only on stored data (and settings), never on the call, so each
worker renders it once and reuses the XML until staff next save (see flowcache). This
module only caches; `twiml` stays pure and does the rendering.
"""

from collections.abc import Callable, Hashable
from functools import cache
from typing import NamedTuple

from twilio.twiml import TwiML

from telephony.flows import cache as flowcache
from telephony.flows import twiml
from telephony.flows.loading import LoadedFlow, cached_flow_for_number


def rendered(key: Hashable, render: Callable[[], TwiML | str]) -> str:
    """`render()`'s TwiML as XML, kept under `key` until staff next save (see flowcache).

    For answers that depend on nothing but stored data and the key (a Gather's outcome
    for the keys pressed): never for anything that varies with the call itself."""
    return flowcache.memo(key, lambda: as_xml(render()))


def as_xml(document: TwiML | str) -> str:
    """A TwiML object rendered, or XML already rendered, as it is."""
    return document if isinstance(document, str) else document.to_xml()


def flow_twiml(loaded: LoadedFlow) -> str:
    """`twiml.render_flow(loaded)` as XML, rendered once per flow and generation."""
    return flowcache.memo(("twiml", loaded.slug), lambda: twiml.render_flow(loaded).to_xml())


@cache
def goodbye_twiml(message: str) -> str:
    """`twiml.goodbye(message)` as XML; the messages are constants, so never invalidated."""
    return twiml.goodbye(message).to_xml()


class VoiceAnswer(NamedTuple):
    """How the voice webhook answers a call to a number, and the flow the call log names."""

    xml: str
    flow_id: int | None = None
    flow_slug: str = ""


def voice_answer(number: str | None) -> VoiceAnswer:
    """The answer to a call to `number` (E.164; None when `To` was no phone number).

    One cache entry per number, holding the flow's XML itself: a call is the webhook's
    most frequent request, and one lookup costs half of two (number -> flow -> XML)."""
    if number is None:
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    return flowcache.memo(("voice", number), lambda: _voice_answer(number))


def _voice_answer(number: str) -> VoiceAnswer:
    phone, loaded = cached_flow_for_number(number)
    if phone is None:
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    if loaded is None:
        return VoiceAnswer(goodbye_twiml(twiml.UNAVAILABLE))
    return VoiceAnswer(flow_twiml(loaded), loaded.flow.pk, loaded.slug)
