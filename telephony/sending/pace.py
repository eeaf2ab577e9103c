"""A send pace shared by every worker on every machine: one SendPace row per sender, and
one for the whole account (TELEPHONY_ACCOUNT_MAX_RATE).

Each row holds the next free send time (epoch seconds, wall clock). `reserve()` takes the
next slot of a sender and of the account in one short transaction: an UPDATE moves the
sender's row to max(next_at, now) + cost/rate, and the account's row after it likewise,
so the database serialises workers on the row lock (PostgreSQL) or the write lock
(SQLite) and no two workers get the same slot. The UPDATE comes before any read, so an
SQLite transaction never has to upgrade a read lock it shares with another writer.
Rows are always locked in the same order (sender, then account): no deadlock.
The caller then sleeps until its slot and sends.

A slot is never earlier than "now": a worker that comes late loses its turn rather than
catching up in a burst, so no one-second window holds more than the rate. A worker
reserves its whole batch's slots at once (`reserve_block()`: one transaction for 50
messages, not 50), and sends each at its own time in the block (`Block.next_slot()`).

Slowing down: when Twilio says a sender's queue is full (21611 on sending, 30001 "Queue
overflow" in a status callback), `slow_down()` holds the sender back for a moment and
halves its pace until TELEPHONY_SLOW_DOWN_SECONDS after the last such report; the row
records it, so every worker sees it at its next slot.

On PostgreSQL a reservation commits without waiting for the disk (synchronous_commit
off for that transaction only): losing the last reservations in a database crash only
means a few slots are handed out again, whereas a flushed commit per message would cost
more than the 20 ms a message has at 50/s.
"""

import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest

from telephony.models import SendPace

ACCOUNT = "account"
SLOW_FACTOR = 0.5  # the share of its pace a sender uses after a full queue


def _key(sender: str) -> str:
    return f"sender:{sender}"


def _ensure(key: str) -> None:
    SendPace.objects.bulk_create([SendPace(key=key, next_at=0.0)], ignore_conflicts=True)


def _advance(key: str, not_before: float, interval: float, now: float) -> tuple[float, float]:
    """Take `key`'s next slot at or after `not_before`: returns the slot and how long it
    lasts (`interval`, or interval / slow_factor while the row is slowed down)."""
    applied = Case(
        When(slow_until__gt=now, then=Value(interval) / F("slow_factor")),
        default=Value(interval),
    )
    step = SendPace.objects.filter(key=key)
    if not step.update(next_at=Greatest(F("next_at"), Value(not_before)) + applied):
        _ensure(key)
        step.update(next_at=Greatest(F("next_at"), Value(not_before)) + applied)
    next_at, slow_until, factor = step.values_list("next_at", "slow_until", "slow_factor").get()
    applied = interval / factor if slow_until > now else interval
    return next_at - applied, applied


def effective_rate(rate: float) -> float:
    """Segments per second a sender may send: its own rate, at most the account's."""
    return min(rate, settings.TELEPHONY_ACCOUNT_MAX_RATE)


def _without_waiting_for_the_disk() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _reserve(sender: str, rate: float, cost: float) -> tuple[float, float]:
    """Take `cost` segments of `sender`'s pace (and the account's): the start and how
    long they last."""
    now = time.time()
    interval = cost / effective_rate(rate)
    account_interval = cost / settings.TELEPHONY_ACCOUNT_MAX_RATE
    with transaction.atomic():
        _without_waiting_for_the_disk()
        slot, applied = _advance(_key(sender), now, interval, now)
        account_slot, _ = _advance(ACCOUNT, slot, account_interval, now)
        if account_slot > slot:  # the account is the bottleneck: keep the sender's gap too
            SendPace.objects.filter(key=_key(sender)).update(next_at=account_slot + applied)
    return account_slot, applied


def reserve(sender: str, *, rate: float, cost: float = 1.0) -> float:
    """The epoch time from which `cost` segments from `sender` may go out, spaced at
    effective_rate(rate) (slower while the sender is slowed down)."""
    return _reserve(sender, rate, cost)[0]


@dataclass
class Block:
    """Slots for a batch of messages, reserved in one transaction: from `start`, one
    segment every `interval` seconds, until `end`.

    `next_slot()` hands them out in order. A message is never sent before its place in
    the block; a worker that runs late may make up at most TOLERANCE seconds of what it
    lost (a late wake-up, a slow query), and loses the rest, so it never catches up in a
    burst. reserve_block() makes each interval longer by HEADROOM (a little more than
    the tolerance per second), so that even then no one-second window holds more than
    the rate: n sends are at least n intervals apart, less the tolerance."""

    start: float
    interval: float  # seconds per segment
    end: float
    cursor: float = field(init=False)
    behind: float = field(init=False, default=0.0)  # seconds lost by coming late

    TOLERANCE = 0.004  # seconds
    HEADROOM = 0.005  # 0.5% of the pace: > TOLERANCE per second

    def __post_init__(self):
        self.cursor = self.start

    @property
    def too_slow(self) -> bool:
        """The worker lost more than a tenth of the block by coming late: it cannot keep
        the rate alone (Twilio answers slowly, or the machine is busy)."""
        return self.behind > 0.1 * (self.end - self.start)

    def next_slot(self, cost: float = 1.0, *, now: float | None = None) -> float | None:
        """When a message of `cost` segments may go (now or later), or None when what is
        left of the block cannot hold it."""
        now = time.time() if now is None else now
        first = self.cursor == self.start
        lag = now - self.TOLERANCE - self.cursor
        if lag > 0:
            self.behind += lag
            self.cursor += lag
        slot = self.cursor
        # The first message always goes, however late the reservation came back:
        # otherwise a worker slower than a one-message block would never send.
        if not first and slot + (cost - 0.01) * self.interval > self.end:  # float rounding
            return None
        self.cursor += cost * self.interval
        return slot


def reserve_block(sender: str, *, rate: float, costs: list[float]) -> Block:
    """Slots for messages of `costs` segments each, in one transaction: a worker's batch."""
    total = max(1.0, float(sum(costs)))
    start, applied = _reserve(sender, rate, total * (1 + Block.HEADROOM))
    return Block(start=start, interval=applied / total, end=start + applied)


def sleep_until(slot: float) -> None:
    delay = slot - time.time()
    if delay > 0:
        time.sleep(delay)


def wait_for_slot(sender: str, *, rate: float, cost: float = 1.0) -> None:
    sleep_until(reserve(sender, rate=rate, cost=cost))


def hold_back(sender: str, seconds: float) -> None:
    """Nobody sends from `sender` for `seconds` (Twilio said its queue is full)."""
    until = time.time() + seconds
    SendPace.objects.filter(key=_key(sender)).update(next_at=Greatest(F("next_at"), Value(until)))


def slow_down(sender: str, *, seconds: float | None = None, hold: float = 0.0) -> None:
    """Send from `sender` at SLOW_FACTOR of its pace for `seconds` from now (default
    TELEPHONY_SLOW_DOWN_SECONDS; a new report starts the period over rather than slowing
    further, so a burst of reports about messages queued together costs no more than
    one), after holding it back for `hold` seconds."""
    now = time.time()
    seconds = settings.TELEPHONY_SLOW_DOWN_SECONDS if seconds is None else seconds
    key = _key(sender)
    _ensure(key)
    SendPace.objects.filter(key=key).update(
        slow_factor=SLOW_FACTOR,
        slow_until=now + seconds,
        next_at=Greatest(F("next_at"), Value(now + hold)),
    )


def slowed(sender: str) -> float:
    """The share of its pace `sender` may use now: 1.0, or less while slowed down."""
    row = SendPace.objects.filter(key=_key(sender)).values_list("slow_until", "slow_factor")
    slow_until, factor = row.first() or (0.0, 1.0)
    return factor if slow_until > time.time() else 1.0


# Calls: Twilio limits calls per second per account, whatever the caller ID, so a call
# campaign keeps its own pace and every campaign shares the account's calls pace.
CALLS_ACCOUNT = "calls:account"


def reserve_call(campaign: str, *, rate: float) -> float:
    """The epoch time from which the next call of `campaign` may be placed: spaced at
    `rate` calls per second, and at TELEPHONY_ACCOUNT_MAX_CALL_RATE over every campaign
    (the row "calls:account"), in one short transaction as reserve() does for texts."""
    account_rate = settings.TELEPHONY_ACCOUNT_MAX_CALL_RATE
    interval = 1.0 / min(rate, account_rate)
    key = f"calls:{campaign}"
    now = time.time()
    with transaction.atomic():
        slot, _ = _advance(key, now, interval, now)
        account_slot, _ = _advance(CALLS_ACCOUNT, slot, 1.0 / account_rate, now)
        if account_slot > slot:  # other campaigns hold the account: keep this one's gap
            SendPace.objects.filter(key=key).update(next_at=account_slot + interval)
    return account_slot


def wait_for_call_slot(campaign: str, *, rate: float) -> None:
    sleep_until(reserve_call(campaign, rate=rate))
