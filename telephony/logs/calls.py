"""Inbound call rows: one per CallSid, written by the ORM, off the caller's critical path.

The voice webhook answers a ringing call from the TwiML its worker holds in memory
(flows/cache.py), so a caller's wait never depends on the database, and neither should
their call's log row. By default (TELEPHONY_CALL_LOG_WRITES=deferred) each worker process
queues the row in memory and one background thread writes what has queued, in one
transaction per batch, TELEPHONY_CALL_LOG_DELAY seconds (default 0.1) after the first row
of the batch arrived. `immediate` writes the row inside the request instead: bench/README.md
has what each costs.

Either way a row is keyed by its CallSid (INSERT ... ON CONFLICT (sid) DO UPDATE SET flow,
compiled by the ORM once: logs/inserts.py): Twilio's retries never add a second row, and a row
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

import logging
import threading
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import IntegrityError, router, transaction

from telephony.logs import inserts
from telephony.logs.writer import TRANSIENT
from telephony.logs.writer import BatchWriter as _Writer
from telephony.models import CallFlow, CallLog, Direction
from telephony.text import storable

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class InboundCall:
    """What the voice webhook knows of a call, cut to the columns' sizes."""

    sid: str
    from_number: str
    to_number: str
    status: str
    flow_id: int | None

    LOST = "Twilio's final status callback will create it without its flow"

    @classmethod
    def of(cls, *, sid: str, from_: str, to: str, status: str, flow_id: int | None):
        return cls(
            storable(sid, 34),
            storable(from_, 128),
            storable(to, 128),
            storable(status or "ringing", 20),
            flow_id,
        )

    def row(self, flows: set[int] | None = None) -> dict:
        """The call's CallLog row as logs/inserts.py takes it (the rest: defaults)."""
        flow_id = self.flow_id if flows is None or self.flow_id in flows else None
        return {
            "sid": self.sid,
            "direction": Direction.INBOUND.value,
            "from_number": self.from_number,
            "to_number": self.to_number,
            "status": self.status,
            "flow_id": flow_id,
        }


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
    # INSERT ... ON CONFLICT (sid) DO UPDATE SET flow_id, as bulk_create(update_conflicts)
    # would, compiled once (logs/inserts.py says why).
    inserts.insert(
        CallLog,
        router.db_for_write(CallLog),
        [call.row(flows) for call in unique],
        upsert=(("sid",), ("flow",)),
    )


def write_batch(batch: list) -> list:
    """Write `batch` (InboundCall rows and events.Journey records, in any mix) in one
    transaction, or record by record where the database refuses it.

    Call rows go first, so a batch's events find their call's row for its outcome
    (logs/journeys.py). Returns the records the database refused for good (logged, not
    retried). A TRANSIENT error is raised: the caller keeps the batch and tries again."""
    using = router.db_for_write(CallLog)
    try:
        with transaction.atomic(using=using):
            _write_mixed(batch, check_flows=False)  # the flows were there a moment ago
        return []
    except TRANSIENT:
        raise
    except Exception:  # a flow deleted meanwhile, or a row the database will not take
        logger.warning("Call log batch of %d refused; writing it row by row", len(batch))
    refused = []
    for record in batch:
        try:
            with transaction.atomic(using=using):
                _write_mixed([record])
        except TRANSIENT:
            raise
        except Exception:
            logger.exception("Call log row refused by the database, dropped: %s", asdict(record))
            refused.append(record)
    return refused


def _write_mixed(batch: list, *, check_flows: bool = True) -> None:
    from telephony.logs import events  # events.py submits to this module's writer

    rows = [record for record in batch if isinstance(record, InboundCall)]
    if rows:
        write(rows, check_flows=check_flows)
    if len(rows) < len(batch):
        events.write([record for record in batch if isinstance(record, events.Journey)])


class BatchWriter(_Writer):
    """The process's writer of call rows and call events (logs/writer.py does the rest)."""

    def write_batch(self, batch: list) -> list:
        return write_batch(batch)  # looked up here, at each batch (tests replace it)


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
