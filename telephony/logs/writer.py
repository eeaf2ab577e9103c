"""A per-process queue of log records, written by one background thread in batches.

The webhooks hand what they log (call rows, call events) to `BatchWriter.submit()`, a few
microseconds, and never wait for the database: a daemon thread writes what has queued,
one transaction per batch, a moment later (logs/calls.py says what it promises). This
module is only the machinery: the queue, the thread, its retries, its bounds and the
flush at exit; what a batch is and how it is written is the subclass's.
"""

import atexit
import logging
import os
import threading
from collections import deque
from dataclasses import asdict
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections, router

logger = logging.getLogger("telephony.logs.calls")  # one writer, one logger, as before

# A database that cannot be reached now, rather than one that refuses these rows.
TRANSIENT = (OperationalError, InterfaceError)


class BatchWriter:
    """A queue per process, drained by one daemon thread in batches.

    What a batch is written with is `write_batch()`, which subclasses give (logs/calls.py:
    call rows and their events). It returns the records the database refused for good
    (logged and dropped) and raises a TRANSIENT error to keep the batch for later.

    `submit()` is an append to a deque and, for the first row of a batch, setting an
    Event: a few microseconds on the request's path. The thread starts lazily in the
    process that submits (never inherited across a fork), is started again if it is ever
    found dead, and `flush()` runs at interpreter exit.
    """

    def __init__(self, *, delay: float, max_batch: int, max_pending: int):
        self.delay, self.max_batch, self.max_pending = delay, max_batch, max_pending
        self.pending: deque[Any] = deque()
        self.wake = threading.Event()
        self.write_lock = threading.Lock()  # one batch at a time: the thread or flush()
        self.start_lock = threading.Lock()
        self.pid: int | None = None  # the process whose thread is running, if any
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.in_flight = 0  # rows of the batch being written: out of `pending`, not yet stored
        self.dropped = 0
        atexit.register(self.close)  # forked children inherit it: each writes its own

    def submit(self, record) -> None:
        if self.pid != os.getpid() or not self.thread.is_alive():
            self._start()
        waiting = len(self.pending) + self.in_flight
        if waiting >= self.max_pending:
            self._drop(record, f"{waiting} rows already wait for the database")
            return
        self.pending.append(record)
        if not self.wake.is_set():
            self.wake.set()

    def _start(self) -> None:
        with self.start_lock:
            if self.pid == os.getpid() and self.thread is not None and self.thread.is_alive():
                return
            if self.pid not in (None, os.getpid()):
                # A forked child: the parent's thread, locks and queued rows are not its own.
                self.write_lock, self.pending = threading.Lock(), deque()
            elif self.thread is not None:
                logger.error("Call log writer thread had stopped; starting it again")
            self.pid = os.getpid()
            self.stopping = threading.Event()
            self.thread = threading.Thread(
                target=self._run, args=(self.stopping,), name="call-log-writer", daemon=True
            )
            self.thread.start()

    def _run(self, stopping: threading.Event) -> None:
        backoff = self.delay
        try:
            while not stopping.is_set():
                self.wake.wait()
                # Let the batch fill (one commit for many calls); close() cuts this short.
                if stopping.wait(backoff):
                    return  # close() writes what is left
                self.wake.clear()
                ok = self._write_some_safely(stopping)
                if not ok:  # the database is down: reconnect, waiting longer each time
                    _reset_connection()
                backoff = self.delay if ok else min(max(backoff * 2, 0.5), 30.0)
                if self.pending:
                    self.wake.set()
        finally:
            connections.close_all()  # this thread's own connections

    def _write_some_safely(self, stopping: threading.Event) -> bool:
        try:
            with self.write_lock:
                if stopping.is_set():
                    return True
                return self._write_some()
        except Exception:  # never let the thread die: log, wait, carry on
            logger.exception("Call log writer failed; will retry")
            return False

    def _drop(self, record, why: str) -> None:
        self.dropped += 1
        logger.error(
            "Call log row dropped (%s; %d dropped so far); %s: %s",
            why,
            self.dropped,
            record.LOST,
            asdict(record),
        )

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the thread and write what is still queued (at exit, and in tests).

        Bounded: a database that does not answer cannot hold up a worker's exit. What
        cannot be written then is logged at ERROR, row by row, and counted as dropped."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        self.pid = None  # a later submit() starts a new thread
        ok = self.flush(timeout=timeout)
        if not ok:
            while self.pending:
                self._drop(self.pending.popleft(), "not written before the worker stopped")
        return ok

    def flush(self, timeout: float = -1) -> bool:
        """Write everything queued now, in the calling thread; False if the database failed
        (or, with a `timeout`, the thread's own batch did not finish in time).

        It waits for a batch the thread is writing: those rows are no longer queued but
        not yet committed either.
        """
        if not self.write_lock.acquire(timeout=timeout):
            return False
        try:
            ok = True
            while self.pending and ok:
                ok = self._write_some()
            return ok
        finally:
            self.write_lock.release()

    def write_batch(self, batch: list) -> list:
        raise NotImplementedError

    def _write_some(self) -> bool:
        """One batch off the queue into the database (the caller holds write_lock)."""
        batch = [self.pending.popleft() for _ in range(min(len(self.pending), self.max_batch))]
        if not batch:
            return True
        self.in_flight = len(batch)
        try:
            refused = self.write_batch(batch)
        except Exception as error:
            self.pending.extendleft(reversed(batch))  # kept, in their order, for next time
            if not isinstance(error, TRANSIENT):
                raise
            logger.exception("Could not write %d call log row(s); will retry", len(batch))
            return False
        finally:
            self.in_flight = 0
        self.dropped += len(refused)  # each already logged with its fields
        return True


def _reset_connection() -> None:
    """Drop the writer thread's broken connection, so its next batch opens a fresh one.
    (Only ever in the writer's own thread: connections are per thread.)"""
    from telephony.models import CallLog  # the writer's database: that of call rows

    try:
        connections[router.db_for_write(CallLog)].close()
    except DatabaseError:
        pass
