"""A per-worker cache of flows and rendered TwiML: callers are answered from memory.

Twilio waits for every webhook with the caller listening to silence, and flows change
rarely (staff edit them in the admin) while they are read on every call. So each worker
keeps what it loaded or rendered in a small in-process store (bounded, least recently
used out): plain Python objects, no pickling, no network.

Staying current. Every save or delete that changes a call bumps `FlowsVersion` in the
same transaction (telephony/signals.py). Each worker re-reads that number at most once
every TELEPHONY_CACHE_RECHECK_SECONDS (default 1 s) and empties its store when it moved,
so a change is live within a second on every worker of every machine, and at once in the
worker that saved it. Nothing else is shared: no cache server, no notices.

Staying up. When the database cannot be read, the worker keeps serving what it holds
(stale, but the live flows of a moment ago), logs that once, and asks the database again
only every TELEPHONY_CACHE_RETRY_SECONDS, so an outage costs at most one connect timeout
per retry, not one per call. What it does not hold yet it cannot build: `memo()` then
raises DatabaseUnavailable at once, and the webhook answers with a polite goodbye.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from telephony.exceptions import DatabaseUnavailable
from telephony.models import FlowsVersion

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()


class _Store:
    """This worker's entries, all built under one FlowsVersion number."""

    def __init__(self):
        self.version: int | None = None  # None: nothing read yet (or emptied by a save)
        self.entries: OrderedDict[Hashable, object] = OrderedDict()
        self.checked_at = float("-inf")  # time.monotonic() of the last successful read
        self.retry_at = float("-inf")  # while the database is away: when to ask again
        self.outage = False  # said once per outage in the log
        self.lock = threading.Lock()  # gthread workers share the store

    def reset(self, version: int | None = None) -> None:
        with self.lock:
            self.version = version
            self.entries.clear()
            if version is None:
                self.checked_at = float("-inf")


_store = _Store()


def enabled() -> bool:
    return settings.TELEPHONY_CACHE_ENABLED


def _refresh() -> None:
    """Re-read FlowsVersion if a second has passed; empty the store when it moved."""
    now = time.monotonic()
    if now - _store.checked_at < settings.TELEPHONY_CACHE_RECHECK_SECONDS or now < _store.retry_at:
        return
    try:
        version = FlowsVersion.current()
    except DatabaseError as error:
        _database_away(error)
        return
    if _store.outage:
        _store.outage = False
        logger.warning("Database reachable again: flows are read from it again")
    if version != _store.version:
        _store.reset(version)
    _store.checked_at = now


def _database_away(error: Exception) -> None:
    _store.retry_at = time.monotonic() + settings.TELEPHONY_CACHE_RETRY_SECONDS
    if not _store.outage:
        _store.outage = True
        logger.error(
            "Database unreachable (%s): answering calls from the %d flow(s) and answer(s) "
            "this worker holds, and a polite goodbye where it holds none",
            str(error).strip() or type(error).__name__,
            len(_store.entries),
        )


def memo(key: Hashable, build: Callable[[], T]) -> T:
    """`build()`'s result for `key`, reused until staff next change anything that renders.

    Raises DatabaseUnavailable, without trying, when it is not held and the database
    was unreachable a moment ago."""
    if not enabled():
        return build()
    _refresh()
    with _store.lock:
        value = _store.entries.get(key, _MISSING)
        if value is not _MISSING:
            _store.entries.move_to_end(key)
            return value
        version = _store.version
    if _store.outage:
        raise DatabaseUnavailable("The database is unreachable and this is not cached.")
    try:
        value = build()
    except (OperationalError, InterfaceError) as error:
        _database_away(error)
        raise
    remember(key, value, version=version)
    return value


def remember(key: Hashable, value: object, *, version: int | None = _MISSING) -> None:
    """Store `value` as if `memo(key, ...)` had built it (a loader that found two things).

    Only under the version it was built for: a save meanwhile empties the store, and an
    entry built from the rows before it must not come back."""
    if not enabled():
        return
    with _store.lock:
        if version is not _MISSING and version != _store.version:
            return
        _store.entries[key] = value
        while len(_store.entries) > settings.TELEPHONY_CACHE_MAX_ENTRIES:
            _store.entries.popitem(last=False)


def clear() -> None:
    """Forget everything this worker holds, and any outage it noticed (tests, commands)."""
    _store.reset(None)
    _store.retry_at, _store.outage = float("-inf"), False


def invalidate() -> None:
    """Make every worker reload flows: this one now, the others within a second.

    Called by the model signals; call it yourself after a bulk `update()` or raw SQL.
    The bump is part of the caller's transaction, so other workers see it when (and only
    if) the change commits."""
    _store.reset(None)
    FlowsVersion.bump()
