"""A per-worker cache of flows and rendered TwiML, invalidated by a shared generation token.

Twilio waits for every webhook with the caller listening to silence, so the voice and
Gather webhooks should cost little beyond Django itself. Flows change rarely (staff edit
them in the admin) and are read on every call, so each worker keeps what it loaded or
rendered in a small in-process store: plain Python objects, no pickling, no network.

What makes it safe is the *generation*: a random token kept where every worker of every
machine can see it. Any save or delete of a model that affects rendering (see
`telephony.signals`) writes a new token; each request reads the token once, and when it
differs from the one this worker's store was filled under, the store is emptied. So an
edit is live on the next call, on every worker, at the price of one small read:

- the cache named by `TELEPHONY_CACHE` (settings), when it is shared between processes
  (Redis, memcached: `CACHE_URL`/`REDIS_URL`): one GET, no database query;
- otherwise a one-row read of Django's database cache table (`telephony-generation`,
  created by `migrate`): one indexed query on the database every worker already shares.

A process-local cache (locmem) is never trusted with the token: a save in one worker
would not be seen by the others.
"""

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DatabaseError, connections, router, transaction

logger = logging.getLogger(__name__)

GENERATION_KEY = "telephony:flows:generation"
# The database-backed store used when no shared cache is configured (see settings.base).
DATABASE_ALIAS = "telephony-generation"

T = TypeVar("T")


def _store_alias() -> str:
    """The cache alias holding the generation token: a shared cache, else the database."""
    alias = getattr(settings, "TELEPHONY_CACHE", "default")
    backend = caches[alias]
    if isinstance(backend, LocMemCache | DummyCache):
        return DATABASE_ALIAS
    return alias


class _Local:
    """This worker's entries, all filled under one generation; bounded, least recently used out."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.generation: str | None = None
        self.checked_at = 0.0  # time.monotonic() of the last read of the shared token
        self.entries: OrderedDict[Hashable, object] = OrderedDict()
        self.lock = threading.Lock()  # gthread workers share the store

    def reset(self, generation: str | None) -> None:
        with self.lock:
            self.generation = generation
            self.entries.clear()


_local = _Local(max_entries=2000)  # per worker; TELEPHONY_CACHE_MAX_ENTRIES overrides
_MISSING = object()


def enabled() -> bool:
    return getattr(settings, "TELEPHONY_CACHE_ENABLED", True)


def _read(alias: str, store) -> str | None:
    if alias != DATABASE_ALIAS:
        return store.get(GENERATION_KEY)
    # The hot path, once per webhook: one indexed read of the stored value, compared as an
    # opaque string. DatabaseCache.get() would also decode it and check its expiry (the
    # token never expires), which costs as much again as the query.
    connection = connections[router.db_for_read(store.cache_model_class)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value FROM {connection.ops.quote_name(store._table)} WHERE cache_key = %s",
            [store.make_and_validate_key(GENERATION_KEY)],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def current_generation() -> str | None:
    """The shared token; creates one when the store has none (first run, evicted, flushed)."""
    alias = _store_alias()
    store = caches[alias]
    try:
        generation = _read(alias, store)
        if generation is None:
            # add() only writes when still absent, so racing workers agree on one token.
            store.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            generation = _read(alias, store)
    except DatabaseError:
        # No cache table yet (migrate not run) or a failed transaction: run uncached.
        logger.warning("Flow cache generation unreadable; serving uncached", exc_info=True)
        return None
    return generation


class _RequestState(threading.local):
    """Within one request the token is read once, however many entries the view uses."""

    in_request = False
    generation: str | None = None


_request = _RequestState()


def request_started(**kwargs) -> None:
    _request.in_request, _request.generation = True, None


def request_finished(**kwargs) -> None:
    _request.in_request, _request.generation = False, None


def _generation_for_this_request() -> str | None:
    if _request.in_request and _request.generation is not None:
        return _request.generation
    # TELEPHONY_CACHE_RECHECK_SECONDS > 0 trades "live on the next call" on *other* workers
    # for no read at all on most requests (README, "Deploying": measured both ways).
    interval = getattr(settings, "TELEPHONY_CACHE_RECHECK_SECONDS", 0)
    now = time.monotonic()
    if interval and _local.generation is not None and now - _local.checked_at < interval:
        generation = _local.generation
    else:
        generation = current_generation()
        _local.checked_at = now
    if _request.in_request:
        _request.generation = generation
    return generation


def memo(key: Hashable, build: Callable[[], T]) -> T:
    """`build()`'s result for `key`, reused until staff next save anything that renders."""
    if not enabled():
        return build()
    generation = _generation_for_this_request()
    if generation is None:
        return build()
    if generation != _local.generation:
        _local.reset(generation)
    with _local.lock:
        value = _local.entries.get(key, _MISSING)
        if value is not _MISSING:
            _local.entries.move_to_end(key)
            return value
    value = build()
    with _local.lock:
        if _local.generation == generation:
            _local.entries[key] = value
            limit = getattr(settings, "TELEPHONY_CACHE_MAX_ENTRIES", _local.max_entries)
            while len(_local.entries) > limit:
                _local.entries.popitem(last=False)
    return value


def remember(key: Hashable, value: object) -> None:
    """Store `value` as if `memo(key, ...)` had built it (a loader that found two things)."""
    if not enabled():
        return
    with _local.lock:
        if _local.generation is not None and _local.generation == _request.generation:
            _local.entries[key] = value


def _write_new_generation() -> None:
    try:
        # A savepoint, so a failure cannot break the staff member's transaction.
        with transaction.atomic():
            caches[_store_alias()].set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except DatabaseError:
        logger.exception("Could not invalidate the flow cache")


def invalidate() -> None:
    """Make every worker reload flows on its next request.

    Called by the model signals; call it yourself after a bulk `update()` or raw SQL.
    The token is written now (this transaction's own reads see the change) and again
    after commit: another worker may have re-cached the old rows in between.
    """
    _local.reset(None)
    _request.generation = None
    _write_new_generation()
    transaction.on_commit(_write_new_generation)
