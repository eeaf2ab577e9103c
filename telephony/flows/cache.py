"""A per-worker cache of releases and rendered TwiML: callers are answered from memory.

Twilio waits for every webhook with the caller listening to silence, and what callers
meet changes only when staff publish. So each worker keeps what it loaded or rendered in
small in-process stores (bounded, least recently used out): plain Python objects, no
pickling, no network. There are two:

- releases (`keep()`): a release never changes once published, so what was built from
  one is kept for as long as the worker lives (or until it is the least used);
- the draft (`memo()`): what test callers and the simulator meet, and who the test
  callers are. Every save or delete of the draft bumps `FlowsVersion.number` in the same
  transaction (telephony/signals.py); this store is emptied when that number moved.

Staying current. Each worker re-reads the one FlowsVersion row (the draft's counter and
the live release's number) every TELEPHONY_CACHE_RECHECK_SECONDS (default 1 s), so a
publish reaches new calls within a second on every worker of every machine, and at once
in the worker that published. Nothing else is shared: no cache server, no notices.

Staying up. In production the number is read by a thread of the worker's own (the
*watcher*), never by a request, so a database that is slow, down or hangs without an
answer cannot hold up a call the worker can answer from memory. While the watcher has
had no answer for a few seconds (or none yet, in a worker that just started), the
database counts as away: calls are answered from what the worker holds (stale, but the
live flows of a moment ago), the outage is logged once, and what the worker does not hold
it cannot build: `memo()` raises DatabaseUnavailable at once and the webhook answers
with a polite goodbye. With TELEPHONY_CACHE_WATCHER off (the tests, whose rows live in
their own transaction), the request reads the number itself, and after a failure asks
again only every TELEPHONY_CACHE_RETRY_SECONDS.
"""

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction

from telephony.exceptions import DatabaseUnavailable
from telephony.models import FlowsVersion

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()
# A worker that just started waits this long for the watcher's first read before it
# counts the database as away (a caller hears the goodbye within 2 s either way).
FIRST_READ_SECONDS = 1.0


class _Store:
    """This worker's entries: the draft's (all built under one FlowsVersion number) and
    the releases'."""

    def __init__(self):
        self.version: int | None = None  # None: not read yet, or emptied by a save here
        self.live: int | None = None  # the live release, as last read
        self.live_known = False  # read at least once (else the live release is unknown)
        self.entries: OrderedDict[Hashable, object] = OrderedDict()  # the draft's
        self.releases: OrderedDict[Hashable, object] = OrderedDict()  # immutable
        self.checked_at = float("-inf")  # time.monotonic() of the last successful read
        self.retry_at = float("-inf")  # while the database is away: when to ask again
        self.outage = False  # the last read failed (said once per outage in the log)
        self.lock = threading.Lock()  # the watcher and gthread workers share the store

    def reset(self, version: int | None = None) -> None:
        with self.lock:
            self.version = version
            self.entries.clear()


_store = _Store()


def enabled() -> bool:
    return settings.TELEPHONY_CACHE_ENABLED


def _read_version() -> bool:
    """Read FlowsVersion now; empty the draft's store when it moved. False if the database
    failed."""
    try:
        version, live = FlowsVersion.current()
    except DatabaseError as error:
        _database_away(error)
        return False
    if version != _store.version:
        _store.reset(version)
    _store.checked_at = time.monotonic()
    if _store.outage:
        _store.outage = False
        logger.warning("Database reachable again: flows are read from it again")
    if live != _store.live and live is not None and _store.live_known and in_watcher():
        _prepare(live)  # new calls switch once it is in memory: none waits for the read
    _store.live, _store.live_known = live, True
    return True


# Set by flows/loading.py: reads a release into this worker's memory (its snapshot).
prepare_release: Callable[[int], object] | None = None


def in_watcher() -> bool:
    return threading.current_thread() is _watcher.thread


def _prepare(number: int) -> None:
    """Read a newly published release in the watcher's thread, before new calls get it."""
    if prepare_release is None:
        return
    started = time.monotonic()
    try:
        prepare_release(number)
    except Exception:  # the first call reads it then; the watcher carries on
        logger.exception("Could not read release %s ahead of calls", number)
        return
    logger.info(
        "Release %s read in %.2f s; new calls get it now", number, time.monotonic() - started
    )


def _database_away(error: Exception) -> None:
    _store.retry_at = time.monotonic() + settings.TELEPHONY_CACHE_RETRY_SECONDS
    if not _store.outage:
        _store.outage = True
        logger.error(
            "Database unreachable (%s): answering calls from live release %s as this worker "
            "holds it (%d entries), and a polite goodbye where it holds none",
            " ".join(str(error).split()) or type(error).__name__,
            _store.live,
            len(_store.releases) + len(_store.entries),
        )


class _Watcher:
    """The thread that reads FlowsVersion for this worker process, started on first use."""

    def __init__(self):
        self.pid: int | None = None
        self.thread: threading.Thread | None = None
        self.first_read = threading.Event()
        self.lock = threading.Lock()

    def ensure_running(self) -> None:
        if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
                return
            if self.pid != os.getpid():  # a forked child: the parent's thread is not its own
                self.first_read = threading.Event()
            self.pid = os.getpid()
            self.stopping = threading.Event()
            self.thread = threading.Thread(
                target=self._run, args=(self.stopping,), name="flows-watcher", daemon=True
            )
            self.thread.start()

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                ok = _read_version()
            except Exception:  # never let the thread die: log, wait, carry on
                logger.exception("Flows watcher failed; will retry")
                ok = False
            if not ok:
                connections.close_all()  # this thread's broken connection: a fresh one next
            self.first_read.set()
            stopping.wait(
                settings.TELEPHONY_CACHE_RECHECK_SECONDS
                if ok
                else settings.TELEPHONY_CACHE_RETRY_SECONDS
            )
        connections.close_all()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread and close its connection (tests; a later use starts another)."""
        if self.thread is not None and self.thread.is_alive():
            self.stopping.set()
            self.thread.join(timeout)
        self.pid = None

    def database_away(self) -> bool:
        """No answer from the database for a while: the last read failed, or is overdue
        (the watcher waits on a database that does not answer)."""
        overdue = 2 * settings.TELEPHONY_CACHE_RECHECK_SECONDS + 1.0
        return _store.outage or time.monotonic() - _store.checked_at > overdue


_watcher = _Watcher()


def database_reachable() -> bool:
    """Whether a build may ask the database now: False while it is away (as the watcher,
    or a read due now, says), so that nothing waits for a database that does not answer."""
    return _refresh() if enabled() else True


def database_failed(error: Exception) -> None:
    """A build's query failed: the database counts as away (said once in the log)."""
    _database_away(error)


def _refresh() -> bool:
    """Bring the store up to date as far as the database allows; False when it is away."""
    if settings.TELEPHONY_CACHE_WATCHER:
        _watcher.ensure_running()
        if _store.checked_at == float("-inf"):  # a worker that just started
            _watcher.first_read.wait(FIRST_READ_SECONDS)
        return not _watcher.database_away()
    now = time.monotonic()
    if now - _store.checked_at < settings.TELEPHONY_CACHE_RECHECK_SECONDS and not _store.outage:
        return True
    if now < _store.retry_at:
        return False
    return _read_version()


def _held(entries: OrderedDict, key: Hashable):
    with _store.lock:
        value = entries.get(key, _MISSING)
        if value is not _MISSING:
            entries.move_to_end(key)
        return value, _store.version


def _build(key: Hashable, build: Callable[[], T], reachable: bool, try_anyway: bool) -> T:
    if not reachable and not try_anyway:
        raise DatabaseUnavailable("The database is unreachable and this is not cached.")
    try:
        return build()
    except (OperationalError, InterfaceError) as error:
        _database_away(error)
        raise


def memo(key: Hashable, build: Callable[[], T], *, try_anyway: bool = False) -> T:
    """`build()`'s result for `key`, reused until the draft next changes.

    Raises DatabaseUnavailable, without trying, when it is not held and the database
    is away, unless told to `try_anyway`: a build that reads no database (rendering what
    is held), or whose caller needs the database anyway (storing a message)."""
    if not enabled():
        return build()
    reachable = _refresh()
    value, version = _held(_store.entries, key)
    if value is not _MISSING:
        return value
    value = _build(key, build, reachable, try_anyway)
    remember(key, value, version=version)
    return value


def keep(key: Hashable, build: Callable[[], T], *, try_anyway: bool = False) -> T:
    """`build()`'s result for `key`, kept for good: for what depends on one release only.

    Raises DatabaseUnavailable as `memo()` does."""
    if not enabled():
        return build()
    value, _ = _held(_store.releases, key)
    if value is not _MISSING:
        return value
    value = _build(key, build, _refresh(), try_anyway)
    _put(_store.releases, key, value)
    return value


def for_release(
    release: str, key: Hashable, build: Callable[[], T], *, try_anyway: bool = False
) -> T:
    """`keep()` for a published release, `memo()` for the draft ("draft")."""
    store = memo if release == DRAFT else keep
    return store((release, *key), build, try_anyway=try_anyway)


DRAFT = "draft"


def live_release() -> int | None:
    """The number of the release callers get now (None: nothing published yet).

    As last read (at most TELEPHONY_CACHE_RECHECK_SECONDS ago), or while the database is
    away, as last known; DatabaseUnavailable when it was never read."""
    if not enabled():
        return FlowsVersion.current()[1]
    _refresh()
    if not _store.live_known:
        raise DatabaseUnavailable("The database is unreachable: which release is live is unknown.")
    return _store.live


def remember(key: Hashable, value: object, *, version: object = _MISSING) -> None:
    """Store `value` in the draft's store as if `memo(key, ...)` had built it.

    Only under the version it was built for: a change meanwhile empties the store, and an
    entry built from the rows before it must not come back."""
    if not enabled():
        return
    with _store.lock:
        if version is not _MISSING and version != _store.version:
            return
    _put(_store.entries, key, value)


def _put(entries: OrderedDict, key: Hashable, value: object) -> None:
    with _store.lock:
        entries[key] = value
        while len(entries) > settings.TELEPHONY_CACHE_MAX_ENTRIES:
            entries.popitem(last=False)


def clear() -> None:
    """Forget everything this worker holds, and any outage it noticed (tests, commands)."""
    _store.reset(None)
    with _store.lock:
        _store.releases.clear()
    _store.live, _store.live_known = None, False
    _store.checked_at = _store.retry_at = float("-inf")
    _store.outage = False
    _watcher.first_read.clear()  # as in a worker that just started


def invalidate() -> None:
    """Make every worker forget the draft: this one now, the others within a second.

    Called by the model signals; call it yourself after a bulk `update()` or raw SQL.
    The bump is part of the caller's transaction, so other workers see it when (and only
    if) the change commits. Releases are never invalidated: they do not change."""
    _store.reset(None)
    if not settings.TELEPHONY_CACHE_WATCHER:
        _store.checked_at = float("-inf")  # read the new number on the next request
    FlowsVersion.bump()


def live_release_changed(number: int) -> None:
    """A publish or rollback made release `number` live: this worker follows once the
    transaction commits (the others within a second, from FlowsVersion)."""

    def follow():
        _store.live, _store.live_known = number, True

    transaction.on_commit(follow)
    if not settings.TELEPHONY_CACHE_WATCHER:
        _store.checked_at = float("-inf")
