"""Inbound call rows: one per CallSid, written by the ORM, off the caller's critical path.

The voice webhook answers a ringing call from the TwiML its worker holds in memory
(flows/cache.py), so a caller's wait never depends on the database, and neither should
their call's log row. By default (TELEPHONY_CALL_LOG_WRITES=deferred) each worker process
queues the row in memory and one background thread writes what has queued, in one
transaction per batch, TELEPHONY_CALL_LOG_DELAY seconds (default 0.1) after the first row
of the batch arrived. `immediate` writes the row inside the request instead: bench/README.md
has what each costs.

Either way a row is keyed by its CallSid (`bulk_create(update_conflicts=True)`: INSERT ...
ON CONFLICT (sid) DO UPDATE SET flow): Twilio's retries never add a second row, and a row
that a status callback created first only gains its flow.

What the background writer promises:
- It does not die. Every exception is caught: a database that is down (OperationalError,
  InterfaceError) keeps the rows queued and is retried with backoff; any other failure
  writes the batch row by row, and a row the database still refuses is logged at ERROR
  with its fields and dropped. If the thread is gone anyway, the next call starts another.
- It is bounded. At most TELEPHONY_CALL_LOG_MAX_PENDING rows wait (a database outage);
  beyond that `submit()` drops the new row, logs it at ERROR with its fields and counts it.
- What a kill loses. A graceful stop (SIGTERM, gunicorn's worker recycling, Ctrl-C) writes
  the queue at exit. A worker killed outright (SIGKILL, out of memory) loses the rows it
  still held: those of its last TELEPHONY_CALL_LOG_DELAY seconds, or all it queued while
  the database was away. Twilio's final status callback for each such call (POST
  /twilio/status/, CallStatus=completed) creates the row anyway, with its numbers, status
  and duration but without the flow.
"""

import atexit
import logging
import os
import threading
from collections import deque
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connections,
    router,
    transaction,
)

from telephony.models import CallFlow, CallLog, Direction
from telephony.text import storable

logger = logging.getLogger(__name__)

# A database that cannot be reached now, rather than one that refuses these rows.
TRANSIENT = (OperationalError, InterfaceError)


@dataclass(slots=True)
class InboundCall:
    """What the voice webhook knows of a call, cut to the columns' sizes."""

    sid: str
    from_number: str
    to_number: str
    status: str
    flow_id: int | None

    @classmethod
    def of(cls, *, sid: str, from_: str, to: str, status: str, flow_id: int | None):
        return cls(
            storable(sid, 34),
            storable(from_, 128),
            storable(to, 128),
            storable(status or "ringing", 20),
            flow_id,
        )

    def row(self, flows: set[int] | None = None) -> CallLog:
        flow_id = self.flow_id if flows is None or self.flow_id in flows else None
        return CallLog(
            sid=self.sid,
            direction=Direction.INBOUND,
            from_number=self.from_number,
            to_number=self.to_number,
            status=self.status,
            flow_id=flow_id,
        )


def write(calls: list[InboundCall], *, check_flows: bool = True) -> None:
    """Insert these calls in one statement; a SID already there only gains its flow.

    `check_flows` first drops flows deleted since the calls came in (one query), so
    that one such row cannot fail the whole batch.
    """
    unique = list({call.sid: call for call in reversed(calls)}.values())  # first one wins
    if not unique:
        return
    flows = None
    if check_flows:
        wanted = {call.flow_id for call in unique if call.flow_id is not None}
        flows = set(CallFlow.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    CallLog.objects.bulk_create(
        [call.row(flows) for call in unique],
        update_conflicts=True,
        unique_fields=["sid"],
        update_fields=["flow"],
    )


def write_batch(batch: list[InboundCall]) -> list[InboundCall]:
    """Write `batch` in one transaction, or row by row where the database refuses it.

    Returns the rows the database refused for good (logged, not retried). A TRANSIENT
    error is raised: the caller keeps the batch and tries again later. (bulk_create is
    one transaction by itself: the rows are built before it begins, so on SQLite other
    writers wait only for the INSERT itself.)"""
    using = router.db_for_write(CallLog)
    try:
        write(batch, check_flows=False)  # the flows were there a moment ago
        return []
    except TRANSIENT:
        raise
    except Exception:  # a flow deleted meanwhile, or a row the database will not take
        logger.warning("Call log batch of %d refused; writing it row by row", len(batch))
    refused = []
    for call in batch:
        try:
            with transaction.atomic(using=using):
                write([call])
        except TRANSIENT:
            raise
        except Exception:
            logger.exception("Call log row refused by the database, dropped: %s", asdict(call))
            refused.append(call)
    return refused


class BatchWriter:
    """A queue per process, drained by one daemon thread in batches.

    `submit()` is an append to a deque and, for the first row of a batch, setting an
    Event: a few microseconds on the request's path. The thread starts lazily in the
    process that submits (never inherited across a fork), is started again if it is ever
    found dead, and `flush()` runs at interpreter exit.
    """

    def __init__(self, *, delay: float, max_batch: int, max_pending: int):
        self.delay, self.max_batch, self.max_pending = delay, max_batch, max_pending
        self.pending: deque[InboundCall] = deque()
        self.wake = threading.Event()
        self.write_lock = threading.Lock()  # one batch at a time: the thread or flush()
        self.start_lock = threading.Lock()
        self.pid: int | None = None  # the process whose thread is running, if any
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.in_flight = 0  # rows of the batch being written: out of `pending`, not yet stored
        self.dropped = 0
        atexit.register(self.close)  # forked children inherit it: each writes its own

    def submit(self, call: InboundCall) -> None:
        if self.pid != os.getpid() or not self.thread.is_alive():
            self._start()
        waiting = len(self.pending) + self.in_flight
        if waiting >= self.max_pending:
            self._drop(call, f"{waiting} rows already wait for the database")
            return
        self.pending.append(call)
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

    def _drop(self, call: InboundCall, why: str) -> None:
        self.dropped += 1
        logger.error(
            "Call log row dropped (%s; %d dropped so far); Twilio's final status callback "
            "will create it without its flow: %s",
            why,
            self.dropped,
            asdict(call),
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

    def _write_some(self) -> bool:
        """One batch off the queue into the database (the caller holds write_lock)."""
        batch = [self.pending.popleft() for _ in range(min(len(self.pending), self.max_batch))]
        if not batch:
            return True
        self.in_flight = len(batch)
        try:
            refused = write_batch(batch)
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
    try:
        connections[router.db_for_write(CallLog)].close()
    except DatabaseError:
        pass


_writer: BatchWriter | None = None
_writer_lock = threading.Lock()  # gthread workers: one writer per process, not per thread


def writer() -> BatchWriter:
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = BatchWriter(
                    delay=settings.TELEPHONY_CALL_LOG_DELAY,
                    max_batch=500,
                    max_pending=settings.TELEPHONY_CALL_LOG_MAX_PENDING,
                )
    return _writer


def record_inbound_call(*, sid: str, from_: str, to: str, status: str, flow_id: int | None) -> None:
    """Log an inbound call once per CallSid: queued (deferred, the default) or written now.

    Immediate writes raise the database's error; the voice webhook logs the call for
    replay and answers anyway."""
    if not sid:
        return
    call = InboundCall.of(sid=sid, from_=from_, to=to, status=status, flow_id=flow_id)
    if settings.TELEPHONY_CALL_LOG_WRITES == "immediate":
        using = router.db_for_write(CallLog)
        try:  # a savepoint: a failure here never breaks a transaction around the request
            with transaction.atomic(using=using):
                write([call], check_flows=False)  # one INSERT, on the flow just loaded
        except IntegrityError:  # ... unless staff deleted it meanwhile
            with transaction.atomic(using=using):
                write([call])
    else:
        writer().submit(call)


def flush() -> bool:
    """Write this process's queued rows now (tests, shutdown hooks)."""
    return _writer.flush() if _writer is not None else True


def record_conference(*, sid: str, conference: str) -> None:
    """The call `sid` joined the conference room `conference` (its statusCallback)."""
    if sid:
        CallLog.objects.filter(sid=sid).update(conference=conference)


def record_call_recording(
    *, sid: str, recording_sid: str, recording_url: str, duration: str, from_: str, to: str
) -> None:
    """A recorded Dial's recording, on the call's log row (made now if the background
    writer has not written it yet: it then only fills in the flow)."""
    if not sid or not recording_sid.startswith("RE"):
        return
    url = recording_url if recording_url.startswith(("https://", "http://")) else ""
    fields = {
        "recording_sid": recording_sid,
        "recording_url": url,
        "recording_duration": int(duration) if duration.isdigit() else None,
    }
    if CallLog.objects.filter(sid=sid).update(**fields):
        return
    _, created = CallLog.objects.get_or_create(
        sid=sid,
        defaults={
            "direction": Direction.INBOUND,
            "from_number": from_[:128],
            "to_number": to[:128],
            **fields,
        },
    )
    if not created:  # written meanwhile by the background writer
        CallLog.objects.filter(sid=sid).update(**fields)
