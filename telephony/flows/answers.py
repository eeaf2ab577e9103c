"""The TwiML documents the voice webhooks answer with, rendered once per worker.

A flow's TwiML depends only on stored data (and settings), never on the call, so each
worker renders it once and reuses the XML until staff next change something (see
flows/cache.py). This module only caches; `twiml` stays pure and does the rendering.
"""

from functools import cache as forever
from typing import NamedTuple

from telephony.flows import cache, twiml
from telephony.flows.loading import LoadedFlow, cached_flow_for_number
from telephony.phone_numbers import e164


def flow_twiml(loaded: LoadedFlow) -> str:
    """`twiml.render_flow(loaded)` as XML, rendered once per flow and version."""
    return cache.memo(("twiml", loaded.slug), lambda: twiml.render_flow(loaded).to_xml())


@forever
def goodbye_twiml(message: str) -> str:
    """`twiml.goodbye(message)` as XML; the messages are constants, so never invalidated."""
    return twiml.goodbye(message).to_xml()


MAX_NUMBER_LENGTH = 20  # E.164 is at most 16 characters


class VoiceAnswer(NamedTuple):
    """How the voice webhook answers a call to a number, and the flow the call log names."""

    xml: str
    flow_id: int | None = None
    flow_slug: str = ""


def voice_answer(to: str) -> VoiceAnswer:
    """The answer to a call to `to`, the number as Twilio sent it.

    One cache entry per number called, holding the flow's XML itself: reading the number
    (E.164), its row, its flow and the rendering are all one lookup on the call's critical
    path. Twilio writes our numbers the same way on every call, so the entries are as many
    as our numbers (and bounded like every entry)."""
    if len(to) > MAX_NUMBER_LENGTH:  # no phone number: not worth a place in the cache
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    return cache.memo(("voice", to), lambda: _voice_answer(e164(to)))


def _voice_answer(number: str | None) -> VoiceAnswer:
    if number is None:  # `To` was no phone number
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    phone, loaded = cached_flow_for_number(number)
    if phone is None:
        return VoiceAnswer(goodbye_twiml(twiml.NOT_IN_SERVICE))
    if loaded is None:
        return VoiceAnswer(goodbye_twiml(twiml.UNAVAILABLE))
    return VoiceAnswer(flow_twiml(loaded), loaded.flow.pk, loaded.slug)
