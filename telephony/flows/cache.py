"""A per-worker cache of flows and rendered TwiML, invalidated by a shared generation token.

Twilio waits for every webhook with the caller listening to silence, so the voice and
Gather webhooks should cost little beyond Django itself. Flows change rarely (staff edit
them in the admin) and are read on every call, so each worker keeps what it loaded or
rendered in a small in-process store: plain Python objects, no pickling, no network.

What makes it safe is the *generation*: a random token kept where every worker of every
machine can see it. Any save or delete of a model that affects rendering (see
`telephony.signals`) writes a new token; when a request finds a token other than the one
this worker's store was filled under, the store is emptied. So an edit is live on the
next call, on every worker. Where the token lives:

- the cache named by `TELEPHONY_CACHE` (settings), when it is shared between processes
  (Redis, memcached: `CACHE_URL`/`REDIS_URL`): one GET per request, no database query;
- otherwise a one-row read of Django's database cache table (`telephony-generation`,
  created by `migrate`), on the database every worker already shares.

Reading that row on every request would cost a query; instead a *notice*
(`telephony.cachenotices`) says whether anyone wrote the token since this worker last
read it, and the row is only read when someone did:

- PostgreSQL: the token write also sends NOTIFY in its own transaction, so it is
  delivered when the edit commits (a fraction of a millisecond later), to every worker of
  every machine; each worker
  LISTENs on one extra connection and polls it, without blocking, once per request.
- SQLite with a database file: a stamp file beside it, rewritten after each committed
  token write; each request stat()s it.

The notice is taken before the token is read, so an edit landing in between is seen on
the next request. Whenever a notice cannot be trusted (in-memory SQLite, the listen
connection down, a missing or unwritable stamp, `TELEPHONY_CACHE_NOTICES=False`) the
token is read on every request as before; after the listen connection comes back, it is
read once, as notifications may have been missed meanwhile. A save in this worker empties
its store at once, notice or not.

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
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router, transaction

from telephony.flows import cachenotices

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


def _database() -> str:
    """The Django database holding the token's table (when no shared cache does)."""
    return router.db_for_write(caches[DATABASE_ALIAS].cache_model_class)


class _Local:
    """This worker's entries, all filled under one generation; bounded, least recently used out."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.generation: str | None = None
        self.checked_at = 0.0  # time.monotonic() of the last read of the shared token
        self.entries: OrderedDict[Hashable, object] = OrderedDict()
        self.lock = threading.Lock()  # gthread workers share the store
        self.notice_lock = threading.Lock()  # one thread at a time takes (and acts on) a notice

    def reset(self, generation: str | None) -> None:
        with self.lock:
            self.generation = generation
            self.entries.clear()


_local = _Local(max_entries=2000)  # per worker; TELEPHONY_CACHE_MAX_ENTRIES overrides
_MISSING = object()
_UNCHOSEN = object()
_notices = _UNCHOSEN  # this process's notice source (None: there is none), chosen on first use


def _notice_source():
    """Chosen on first use in the process (again when a test changes the settings)."""
    global _notices
    if _notices is _UNCHOSEN:
        _notices = None
        if getattr(settings, "TELEPHONY_CACHE_NOTICES", True) and _store_alias() == DATABASE_ALIAS:
            _notices = cachenotices.sources.get(_database())
    return _notices


def _settings_changed(setting, **kwargs) -> None:
    """Tests override these: choose the source again and start from an empty store."""
    global _notices
    if setting in _SOURCE_SETTINGS:
        _notices = _UNCHOSEN
        _local.reset(None)


_SOURCE_SETTINGS = {
    "CACHES",
    "DATABASES",
    "TELEPHONY_CACHE",
    "TELEPHONY_CACHE_NOTICES",
    "TELEPHONY_CACHE_STAMP_FILE",
}
setting_changed.connect(_settings_changed, dispatch_uid="telephony.flows.cache.settings")


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


def _checked_recently() -> bool:
    # TELEPHONY_CACHE_RECHECK_SECONDS > 0 trades "live on the next call" on *other* workers
    # for no read at all on most requests (README, "Deploying": measured both ways). It only
    # matters without notices: with them there is nothing left to save.
    interval = getattr(settings, "TELEPHONY_CACHE_RECHECK_SECONDS", 0)
    return bool(interval) and time.monotonic() - _local.checked_at < interval


def _generation_for_this_request() -> str | None:
    if _request.in_request and _request.generation is not None:
        return _request.generation
    source = _notice_source()
    if source is None:
        changed, generation = None, _local.generation
    else:
        with _local.notice_lock:
            changed = source.changed()  # before the read: a later write is noticed next time
            if changed:
                # Forget the token (and so the entries) now, so that every thread reads it,
                # not only this one. Nearly always it did change; after the listen
                # connection came back, it costs one reload of what this worker serves.
                _local.reset(None)
            generation = _local.generation
    if generation is None or changed or (changed is None and not _checked_recently()):
        generation = current_generation()
        _local.checked_at = time.monotonic()
        if generation is None:
            _local.reset(None)  # unreadable: read again next time, whatever the notices say
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
    alias = _store_alias()
    database = _database() if alias == DATABASE_ALIAS else DEFAULT_DB_ALIAS
    try:
        # A savepoint, so a failure cannot break the staff member's transaction.
        with transaction.atomic(using=database):
            caches[alias].set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            if alias == DATABASE_ALIAS:
                # Same transaction: listeners hear of it when (and only if) it commits.
                cachenotices.notify(connections[database])
    except DatabaseError:
        logger.exception("Could not invalidate the flow cache")
        return
    connection = connections[database]
    if alias == DATABASE_ALIAS and not connection.in_atomic_block:
        # Committed, so other processes can read the new token: now move the stamp (the
        # write inside a staff member's transaction is announced by the rewrite on commit).
        if path := cachenotices.stamp_path(connection):
            cachenotices.touch(path)


def invalidate() -> None:
    """Make every worker reload flows on its next request.

    Called by the model signals; call it yourself after a bulk `update()` or raw SQL.
    This worker's store is emptied at once. A new token is written now (this
    transaction's own reads see the change) and again after commit, as another worker
    may have re-cached the old rows in between; each write is announced to the other
    workers (NOTIFY on PostgreSQL, the stamp file on SQLite) once it is committed.
    """
    _local.reset(None)
    _request.generation = None
    _write_new_generation()
    transaction.on_commit(_write_new_generation)
