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
catching up in a burst, so no one-second window holds more than the rate.

Slowing down: when Twilio says a sender's queue is full (21611 on sending, 30001 "Queue
overflow" in a status callback), `slow_down()` halves the sender's pace for
TELEPHONY_SLOW_DOWN_SECONDS (again on each new report, down to SLOWEST) and holds it
back for a moment; the row records it, so every worker sees it at its next slot.

On PostgreSQL a reservation commits without waiting for the disk (synchronous_commit
off for that transaction only): losing the last reservations in a database crash only
means a few slots are handed out again, whereas a flushed commit per message would cost
more than the 20 ms a message has at 50/s.
"""

import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest

from telephony.models import SendPace

ACCOUNT = "account"
SLOW_FACTOR = 0.5  # each report of a full queue halves the pace...
SLOWEST = 0.125  # ...down to an eighth of it


def _key(sender: str) -> str:
    return f"sender:{sender}"


def _ensure(key: str) -> None:
    SendPace.objects.bulk_create([SendPace(key=key, next_at=0.0)], ignore_conflicts=True)


def _advance(key: str, not_before: float, interval: float, now: float) -> float:
    """Take `key`'s next slot at or after `not_before`; returns the slot. While the row is
    slowed down, the slot lasts interval / slow_factor."""
    applied = Case(
        When(slow_until__gt=now, then=Value(interval) / F("slow_factor")),
        default=Value(interval),
    )
    step = SendPace.objects.filter(key=key)
    if not step.update(next_at=Greatest(F("next_at"), Value(not_before)) + applied):
        _ensure(key)
        step.update(next_at=Greatest(F("next_at"), Value(not_before)) + applied)
    next_at, slow_until, factor = step.values_list("next_at", "slow_until", "slow_factor").get()
    return next_at - (interval / factor if slow_until > now else interval)


def effective_rate(rate: float) -> float:
    """Segments per second a sender may send: its own rate, at most the account's."""
    return min(rate, settings.TELEPHONY_ACCOUNT_MAX_RATE)


def _without_waiting_for_the_disk() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def reserve(sender: str, *, rate: float, cost: float = 1.0) -> float:
    """The epoch time from which `cost` segments from `sender` may go out, spaced at
    effective_rate(rate) (slower while the sender is slowed down)."""
    now = time.time()
    interval = cost / effective_rate(rate)
    account_interval = cost / settings.TELEPHONY_ACCOUNT_MAX_RATE
    with transaction.atomic():
        _without_waiting_for_the_disk()
        slot = _advance(_key(sender), now, interval, now)
        account_slot = _advance(ACCOUNT, slot, account_interval, now)
        if account_slot > slot:  # the account is the bottleneck: keep the sender's gap too
            SendPace.objects.filter(key=_key(sender)).update(
                next_at=account_slot + (F("next_at") - Value(slot))
            )
    return account_slot


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
    """Halve `sender`'s pace for `seconds` (default TELEPHONY_SLOW_DOWN_SECONDS): halved
    again if it already is (down to SLOWEST), and the period starts over. With `hold`,
    nobody sends from it for that many seconds first."""
    now = time.time()
    seconds = settings.TELEPHONY_SLOW_DOWN_SECONDS if seconds is None else seconds
    key = _key(sender)
    _ensure(key)
    SendPace.objects.filter(key=key).update(
        slow_factor=Case(
            When(slow_until__gt=now, then=Greatest(F("slow_factor") * SLOW_FACTOR, SLOWEST)),
            default=Value(SLOW_FACTOR),
        ),
        slow_until=now + seconds,
        next_at=Greatest(F("next_at"), Value(now + hold)),
    )


def slowed(sender: str) -> float:
    """The share of its pace `sender` may use now: 1.0, or less while slowed down."""
    row = SendPace.objects.filter(key=_key(sender)).values_list("slow_until", "slow_factor")
    slow_until, factor = row.first() or (0.0, 1.0)
    return factor if slow_until > time.time() else 1.0
