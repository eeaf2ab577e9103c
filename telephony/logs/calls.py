"""Inbound call rows, written in batches off the caller's critical path.

The voice webhook answers a ringing call, so it should cost little beyond Django itself;
one durable INSERT per call (its commit waits for the disk) costs more than everything
else the webhook does. So by default (TELEPHONY_CALL_LOG_WRITES=deferred) each worker
process queues the row in memory and a background thread writes whatever has queued, in
one transaction per batch, TELEPHONY_CALL_LOG_DELAY seconds (default 0.1) after the first
row of the batch arrived. `immediate` writes the row inside the request instead.

Either way a row is keyed by its CallSid (INSERT ... ON CONFLICT): Twilio's retries never
add a second row, and a status callback that got there first (it creates the row without
a flow) only gains the flow.

What deferral costs, and why it is acceptable for a log:
- A graceful stop (SIGTERM, gunicorn's worker recycling, Ctrl-C) writes the queue at
  exit. A worker killed outright (SIGKILL, out of memory) loses the rows of its last
  TELEPHONY_CALL_LOG_DELAY seconds; Twilio's final status callback for such a call still
  creates its row (/twilio/status/), without the flow.
- While the database is unreachable the thread retries with backoff, keeping at most
  TELEPHONY_CALL_LOG_MAX_PENDING rows; beyond that the oldest are dropped, each drop
  logged as an error. Callers are answered throughout.
"""

import atexit
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import orjson
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils import timezone

from telephony.models import CallFlow, CallLog, Direction

logger = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: that makes each of its five fields cost a call, per call
class InboundCall:
    """What the voice webhook knows of a call, already cut to the columns' sizes."""

    sid: str
    from_number: str
    to_number: str
    status: str
    flow_id: int | None

    @classmethod
    def of(cls, *, sid: str, from_: str, to: str, status: str, flow_id: int | None):
        return cls(sid[:34], from_[:128], to[:128], (status or "ringing")[:20], flow_id)


# The columns each call fills; every other column holds one value for the whole batch.
_PER_CALL = ("sid", "from_number", "to_number", "status", "flow")


def write(calls: list[InboundCall], *, check_flows: bool = True) -> None:
    """Insert these calls in one statement; a SID already there only gains a missing flow.

    One INSERT ... ON CONFLICT (sid) DO UPDATE SET flow_id = EXCLUDED.flow_id, built from
    the model's metadata: bulk_create() would build a model instance per row, prepare every
    field of every row and ask for the new ids back, which costs more than the whole
    webhook did. The status stays whatever status callbacks moved it to.

    PostgreSQL gets one array per column (INSERT ... SELECT FROM unnest(...)): a short
    statement whatever the batch size, where a placeholder per value made parsing it a
    third of the server's work per row. SQLite gets the rows as one JSON array (SELECT
    FROM json_each(...)), for the same reason: one statement, compiled once, and one
    parameter, not twelve per row; a third less CPU per row in batches of 100-200. Where
    SQLite lacks its JSON functions, each call is a VALUES row.

    `check_flows` first drops flows deleted since the calls came in (one query per batch),
    so one such row cannot fail the whole batch.
    """
    unique = list({call.sid: call for call in reversed(calls)}.values())  # first one wins
    if not unique:
        return
    flows = {call.flow_id for call in unique if call.flow_id is not None}
    if check_flows:
        existing = set(CallFlow.objects.filter(pk__in=flows).values_list("pk", flat=True))
    else:
        existing = flows
    connection = connections[router.db_for_write(CallLog)]
    form = _batch_form(connection)
    # One statement for any count (arrays, JSON); one per row count otherwise.
    sql, shared = _statement(connection.alias, form, len(unique) if form == "values" else 0)
    now = timezone.now()
    shared_values = [
        field.get_db_prep_save(_shared_value(field, now), connection) for field in shared
    ]
    rows = [
        (
            call.sid,
            call.from_number,
            call.to_number,
            call.status,
            call.flow_id if call.flow_id in existing else None,
        )
        for call in unique
    ]
    if form == "arrays":
        params = shared_values + [list(column) for column in zip(*rows, strict=True)]
    elif form == "json":
        params = shared_values + [orjson.dumps(rows).decode()]
    else:
        params = []
        for values in rows:
            params += values
            params += shared_values
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _batch_form(connection) -> str:
    """How a batch reaches the database: one array per column (PostgreSQL), one JSON array
    of rows (SQLite with its JSON functions, as Django finds them), else a VALUES row each."""
    if connection.vendor == "postgresql":
        return "arrays"
    if connection.vendor == "sqlite" and connection.features.supports_json_field:
        return "json"
    return "values"


@lru_cache(maxsize=64)
def _statement(alias: str, form: str, count: int) -> tuple[str, list]:
    """The INSERT for `count` calls (any count for arrays and JSON), and its shared fields."""
    connection = connections[alias]
    meta, quote = CallLog._meta, connection.ops.quote_name
    per_call = [meta.get_field(name) for name in _PER_CALL]
    shared = [
        field
        for field in meta.concrete_fields
        if not field.primary_key and field.name not in _PER_CALL
    ]
    columns = ", ".join(quote(field.column) for field in per_call + shared)
    flow, sid = quote(meta.get_field("flow").column), quote(meta.get_field("sid").column)
    insert = f"INSERT INTO {quote(meta.db_table)} ({columns}) "
    upsert = f" ON CONFLICT ({sid}) DO UPDATE SET {flow} = EXCLUDED.{flow}"
    if form == "arrays":
        arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in per_call)
        # Cast, as a SELECT list has no column types to take them from (NULL would be text).
        values = ", ".join(f"%s::{field.db_type(connection)}" for field in shared)
        return insert + f"SELECT *, {values} FROM unnest({arrays})" + upsert, shared
    if form == "json":
        picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(per_call)))
        values = ", ".join(["%s"] * len(shared))
        # WHERE true: without it SQLite would read ON CONFLICT as the SELECT's join clause.
        return insert + f"SELECT {picks}, {values} FROM json_each(%s) WHERE true" + upsert, shared
    row = "(" + ", ".join(["%s"] * (len(per_call) + len(shared))) + ")"
    return insert + f"VALUES {', '.join([row] * count)}" + upsert, shared


def _shared_value(field, now):
    if field.name in ("created_at", "updated_at"):
        return now
    if field.name == "direction":
        return Direction.INBOUND.value
    return field.get_default()


class BatchWriter:
    """A queue per process, drained by one daemon thread in batches.

    `submit()` is an append to a deque and, for the first row of a batch, setting an
    Event: a few microseconds on the request's path. Threads start lazily, in the process
    that submits (never inherited across a fork), and `flush()` runs at interpreter exit.
    """

    def __init__(self, *, delay: float, max_batch: int, max_pending: int):
        self.delay, self.max_batch, self.max_pending = delay, max_batch, max_pending
        self.pending: deque[InboundCall] = deque()
        self.wake = threading.Event()
        self.write_lock = threading.Lock()  # one batch at a time: the thread or flush()
        self.pid: int | None = None  # the process whose thread is running, if any
        self.owner_pid: int | None = None  # the process that created the queue
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.dropped = 0
        atexit.register(self.close)  # forked children inherit it: each writes its own

    def submit(self, call: InboundCall) -> None:
        if self.pid != os.getpid():
            self._start()
        self.pending.append(call)
        if not self.wake.is_set():
            self.wake.set()

    def _start(self) -> None:
        if self.owner_pid not in (None, os.getpid()):
            # A forked child: the parent's thread, lock and queued rows are not its own.
            self.write_lock, self.pending, self.thread = threading.Lock(), deque(), None
        with self.write_lock:
            if self.pid == os.getpid():
                return
            self.pid = self.owner_pid = os.getpid()
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
                with self.write_lock:
                    if stopping.is_set():
                        return
                    ok = self._write_some()
                if not ok:  # the database is down: reconnect, waiting longer each time
                    _reset_connection()
                backoff = self.delay if ok else min(max(backoff * 2, 0.5), 30.0)
                if self.pending:
                    self.wake.set()
        finally:
            connections.close_all()  # this thread's own connections

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the thread and write what is still queued (at exit, and in tests)."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        self.pid = None  # a later submit() starts a new thread
        return self.flush()

    def flush(self) -> bool:
        """Write everything queued now, in the calling thread; False if the database failed.

        It waits for a batch the thread is writing: those rows are no longer queued but
        not yet committed either.
        """
        with self.write_lock:
            ok = True
            while self.pending and ok:
                ok = self._write_some()
            return ok

    def _write_some(self) -> bool:
        """One batch off the queue into the database (the caller holds write_lock)."""
        batch = [self.pending.popleft() for _ in range(min(len(self.pending), self.max_batch))]
        if not batch:
            return True
        try:
            _write_batch(batch)
        except DatabaseError:
            logger.exception("Could not write %d call log row(s); will retry", len(batch))
            self.pending.extendleft(reversed(batch))
            self._drop_excess()
            return False
        return True

    def _drop_excess(self) -> None:
        while len(self.pending) > self.max_pending:
            call = self.pending.popleft()
            self.dropped += 1
            logger.error("Call log row for %s dropped: the database is unreachable", call.sid)


def _write_batch(batch: list[InboundCall]) -> None:
    using = router.db_for_write(CallLog)
    try:
        with transaction.atomic(using=using):
            write(batch, check_flows=False)  # the flows were there a moment ago
        return
    except IntegrityError:
        logger.info(
            "A flow was deleted under %d queued call(s); writing them without it", len(batch)
        )
    try:
        with transaction.atomic(using=using):
            write(batch)
        return
    except IntegrityError:
        # Still refused: one row at a time, so one bad row cannot cost the others theirs.
        logger.warning("Call log batch refused; writing its %d rows one by one", len(batch))
    for call in batch:
        try:
            with transaction.atomic(using=using):
                write([call])
        except IntegrityError:
            logger.exception("Call log row for %s refused by the database", call.sid)


def _reset_connection() -> None:
    """Drop the writer thread's broken connection, so its next batch opens a fresh one."""
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
    """Log an inbound call once per CallSid: queued (deferred, the default) or written now."""
    if not sid:
        return
    call = InboundCall.of(sid=sid, from_=from_, to=to, status=status, flow_id=flow_id)
    if settings.TELEPHONY_CALL_LOG_WRITES == "immediate":
        try:
            write([call], check_flows=False)  # one INSERT, on the flow just loaded
        except IntegrityError:  # ... unless staff deleted it meanwhile
            write([call])
    else:
        writer().submit(call)


def flush() -> bool:
    """Write this process's queued rows now (tests, shutdown hooks)."""
    return _writer.flush() if _writer is not None else True
