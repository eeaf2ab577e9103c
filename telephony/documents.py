"""Rendered TwiML documents the webhooks answer with, cached per worker.

A flow's TwiML depends only on stored data (and settings), never on the call, so each
worker renders it once and reuses the XML until staff next save (see flowcache). This
module only caches; `twiml` stays pure and does the rendering.
"""

from functools import cache

from . import flowcache, twiml
from .selectors import LoadedFlow


def flow_twiml(loaded: LoadedFlow) -> str:
    """`twiml.render_flow(loaded)` as XML, rendered once per flow and generation."""
    return flowcache.memo(("twiml", loaded.slug), lambda: twiml.render_flow(loaded).to_xml())


@cache
def goodbye_twiml(message: str) -> str:
    """`twiml.goodbye(message)` as XML; the messages are constants, so never invalidated."""
    return twiml.goodbye(message).to_xml()
