"""Cheap local notices that the flow cache's generation token may have changed.

`telephony.flowcache` reads a shared token to know whether its per-worker store is still
current. Reading it costs a query per request; a notice answers the question "did anyone
write the token since this worker last read it?" for almost nothing, so the token is
only read when the answer is yes (or unknown). Writers always announce; whether readers
rely on the notices is `TELEPHONY_CACHE_NOTICES`.

- PostgreSQL: LISTEN/NOTIFY. The token write sends `NOTIFY telephony_flows` in its own
  transaction, so PostgreSQL delivers it when (and only if) the write commits, to every
  listening connection of that database, whatever machine holds it (asynchronously: a
  fraction of a millisecond after the commit returned). Each worker process
  opens one dedicated autocommit connection, LISTENs, and then polls it without blocking
  (a recv() on a socket, well under a microsecond when nothing came).
- SQLite with a database file: a stamp file beside it (`<NAME>-flows-changed`, or
  `TELEPHONY_CACHE_STAMP_FILE`), rewritten with a fresh nanosecond mtime after each committed
  token write; readers compare one `os.stat()` with what they saw when they last read the token.
  SQLite is single-machine, so a local file reaches every worker.

`changed()` answers True (read the token: something changed, or this is the first look),
False (nothing changed since the last True) or None (cannot tell: no notices here, or
they are broken right now; read the token as if there were none). The notice is always
taken *before* the token is read: an edit landing in between is noticed next time.
"""

import contextlib
import logging
import os
import time
import uuid

from django.conf import settings

logger = logging.getLogger(__name__)

CHANNEL = "telephony_flows"
# After the listen connection fails, retry it at most this often (read the token meanwhile).
RETRY_SECONDS = 5.0


def notify(connection) -> None:
    """Inside the transaction that writes the token: announce it to PostgreSQL listeners."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


def stamp_path(connection) -> str | None:
    """The stamp file of a SQLite database: beside its file; none for an in-memory one."""
    if connection.vendor != "sqlite":
        return None
    explicit = getattr(settings, "TELEPHONY_CACHE_STAMP_FILE", None)
    if explicit:
        return str(explicit)
    if connection.is_in_memory_db():
        return None
    return f"{connection.settings_dict['NAME']}-flows-changed"


def touch(path: str) -> None:
    """Give the stamp a new identity every reader will notice (after the token write).

    The mtime is set explicitly to the nanosecond: a plain write stamps the kernel's coarse
    clock, and two writes in one tick would look the same. A writer that cannot update the
    stamp removes it, so that readers fall back to reading the token instead of trusting a
    stamp that no longer moves.
    """
    now = time.time_ns()
    try:
        with open(path, "w") as f:
            f.write(uuid.uuid4().hex)
        os.utime(path, ns=(now, now))
    except OSError:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            logger.error("Flow cache stamp %s can be neither updated nor removed", path)


class Stamp:
    """A reader of one stamp file (shared by this process's threads).

    It keeps the stamp open and fstat()s the descriptor: no walk of the path on every
    request. `touch()` rewrites the stamp in place, so the open file sees each write. A
    stamp removed (or replaced) since it was opened has no links left: it is opened again
    by its path, and recreated if it is missing.
    """

    def __init__(self, path: str):
        self.path = path
        self.seen: tuple[int, int, int] | None = None
        self.fd: int | None = None

    def changed(self) -> bool | None:
        st = self._stat()
        if st is None:
            return None
        mark = (st.st_mtime_ns, st.st_size, st.st_ino)
        if mark == self.seen:
            return False
        self.seen = mark
        return True

    def _stat(self) -> os.stat_result | None:
        if self.fd is not None:
            try:
                st = os.fstat(self.fd)
            except OSError:
                st = None
            if st is not None and st.st_nlink:
                return st
            self.close()
        try:
            self.fd = self._open()
            return os.fstat(self.fd)
        except OSError:
            self.close()
            return None

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            touch(self.path)  # first run, or removed: create it so that notices can start
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


class Listener:
    """This process's LISTEN connection to PostgreSQL, opened on first use."""

    def __init__(self, alias: str):
        self.alias = alias  # the Django database the token (and so the NOTIFY) lives in
        self.pid: int | None = None
        self.conn = None
        self.retry_at = 0.0
        self.failing = False

    def changed(self) -> bool | None:
        if self.pid != os.getpid():
            # A forked child must not use (nor close: that would end the parent's session)
            # a connection it inherited; keep it referenced and open its own.
            if self.conn is not None:
                _inherited.append(self.conn)
            self.pid, self.conn, self.retry_at = os.getpid(), None, 0.0
        if self.conn is None:
            return self._connect()
        try:
            self.conn.poll()
        except Exception as exc:  # psycopg2.Error, OSError: the server restarted or went away
            return self._lost(exc)
        # Nothing but notifications is expected here: any other message (FATAL: terminating
        # connection) means the connection is going away, perhaps before delivering all.
        if self.conn.notices:
            return self._lost(self.conn.notices[-1].strip())
        if self.conn.notifies:
            self.conn.notifies.clear()
            return True
        return False

    def _connect(self) -> bool | None:
        if time.monotonic() < self.retry_at:
            return None
        from django.db import connections

        params = connections[self.alias].get_connection_params()
        for key in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(key, None)
        params.setdefault("application_name", "switchboard-flowcache-listen")
        params.setdefault("connect_timeout", 5)
        # A connection that only listens is idle for hours: keepalives stop NATs and
        # firewalls from dropping it silently, and detect a vanished server within ~25 s.
        # (Set here whatever OPTIONS say: the web connections may well keep the defaults.)
        params |= {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}
        params |= {"keepalives_count": 3}
        try:
            import psycopg2  # (ImportError with only psycopg 3 installed: no notices)

            self.conn = psycopg2.connect(**params)
            self.conn.autocommit = True
            with self.conn.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:
            return self._lost(exc)  # closes what was opened
        if self.failing:
            logger.info("Flow cache notices restored: listening on PostgreSQL again")
            self.failing = False
        # Listening from now on; what happened before is unknown, so read the token once.
        return True

    def _lost(self, reason) -> None:
        """Close, fall back to reading the token, retry later; warn once per outage."""
        self.close()
        self.retry_at = time.monotonic() + RETRY_SECONDS
        if not self.failing:
            self.failing = True
            logger.warning(
                "Flow cache notices unavailable (%s); reading the generation token on "
                "every request until PostgreSQL accepts the listen connection again",
                reason,
            )
        return None

    def close(self) -> None:
        if self.conn is not None and self.pid == os.getpid():
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None


_inherited: list = []  # listen connections inherited over fork(): never used, never closed


class _Sources:
    """One notice source per database or stamp file, per process."""

    def __init__(self):
        self.listeners: dict[str, Listener] = {}
        self.stamps: dict[str, Stamp] = {}

    def get(self, alias: str) -> "Listener | Stamp | None":
        """The source for a token kept in Django database `alias`; None if it has none."""
        from django.db import connections

        connection = connections[alias]
        if connection.vendor == "postgresql":
            return self.listeners.setdefault(alias, Listener(alias))
        path = stamp_path(connection)
        return self.stamps.setdefault(path, Stamp(path)) if path else None


sources = _Sources()


def close() -> None:
    """Close this process's listen connections (they reopen on next use)."""
    for listener in sources.listeners.values():
        listener.close()
