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
"""

import time

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from telephony.models import SendPace

ACCOUNT = "account"


def _advance(key: str, not_before: float, interval: float) -> float:
    """Take `key`'s next slot at or after `not_before`; returns the slot."""
    updated = SendPace.objects.filter(key=key).update(
        next_at=Greatest(F("next_at"), Value(not_before)) + Value(interval)
    )
    if not updated:
        SendPace.objects.bulk_create([SendPace(key=key, next_at=0.0)], ignore_conflicts=True)
        SendPace.objects.filter(key=key).update(
            next_at=Greatest(F("next_at"), Value(not_before)) + Value(interval)
        )
    return SendPace.objects.filter(key=key).values_list("next_at", flat=True).get() - interval


def effective_rate(rate: float) -> float:
    """Segments per second a sender may send: its own rate, at most the account's."""
    return min(rate, settings.TELEPHONY_ACCOUNT_MAX_RATE)


def reserve(sender: str, *, rate: float, cost: float = 1.0) -> float:
    """The epoch time from which `cost` segments from `sender` may go out, spaced at
    effective_rate(rate): one message, or a worker's whole batch in one transaction."""
    now = time.time()
    interval = cost / effective_rate(rate)
    account_interval = cost / settings.TELEPHONY_ACCOUNT_MAX_RATE
    with transaction.atomic():
        slot = _advance(f"sender:{sender}", now, interval)
        account_slot = _advance(ACCOUNT, slot, account_interval)
        if account_slot > slot:  # the account is the bottleneck: keep the sender's gap too
            SendPace.objects.filter(key=f"sender:{sender}").update(next_at=account_slot + interval)
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
    SendPace.objects.filter(key=f"sender:{sender}").update(
        next_at=Greatest(F("next_at"), Value(until))
    )


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
    with transaction.atomic():
        slot = _advance(key, time.time(), interval)
        account_slot = _advance(CALLS_ACCOUNT, slot, 1.0 / account_rate)
        if account_slot > slot:  # other campaigns hold the account: keep this one's gap
            SendPace.objects.filter(key=key).update(next_at=account_slot + interval)
    return account_slot


def wait_for_call_slot(campaign: str, *, rate: float) -> None:
    sleep_until(reserve_call(campaign, rate=rate))
