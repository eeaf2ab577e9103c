"""Deleting old logs: call logs, their call events and message logs older than a cut-off.

Rows go in batches of primary keys, each batch in a transaction of its own, so a prune of
millions of rows never holds locks for long: the webhooks keep writing their rows (new
ones, far from the cut-off) while it runs, and a prune that is stopped keeps what it did.

Voicemails keep their own retention (`prune_voicemails`). A voicemail names its call by
SID, not by a foreign key, so nothing stops its call log from going; but the voicemail's
page links to the call and its journey, so a call log a voicemail still names is kept,
with its events, until that voicemail is pruned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from telephony.models import CallEvent, CallLog, MessageLog, Voicemail

DEFAULT_BATCH_SIZE = 2000


@dataclass
class Pruned:
    cutoff: dt.datetime
    calls: int = 0
    events: int = 0
    messages: int = 0
    kept_calls: int = 0  # old call logs kept because a voicemail names them


def _voicemail_calls() -> QuerySet:
    return Voicemail.objects.exclude(call_sid="").values("call_sid")


def old_calls(cutoff: dt.datetime) -> QuerySet:
    return CallLog.objects.filter(created_at__lt=cutoff).exclude(sid__in=_voicemail_calls())


def old_events(cutoff: dt.datetime) -> QuerySet:
    return CallEvent.objects.filter(at__lt=cutoff).exclude(call_sid__in=_voicemail_calls())


def old_messages(cutoff: dt.datetime) -> QuerySet:
    return MessageLog.objects.filter(created_at__lt=cutoff)


def _delete_in_batches(queryset: QuerySet, batch_size: int, report: Callable) -> int:
    deleted = 0
    while True:
        pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return deleted
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=pks).delete()
        deleted += len(pks)
        report(queryset.model, deleted)


def prune(
    *,
    age: dt.timedelta,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    report: Callable = lambda model, done: None,
) -> Pruned:
    """Delete (or, with dry_run, count) what is older than `age`; `report(model, done)`
    is called after each batch."""
    cutoff = timezone.now() - age
    result = Pruned(cutoff=cutoff)
    result.kept_calls = CallLog.objects.filter(
        created_at__lt=cutoff, sid__in=_voicemail_calls()
    ).count()
    if dry_run:
        result.calls = old_calls(cutoff).count()
        result.events = old_events(cutoff).count()
        result.messages = old_messages(cutoff).count()
        return result
    result.events = _delete_in_batches(old_events(cutoff), batch_size, report)
    result.calls = _delete_in_batches(old_calls(cutoff), batch_size, report)
    result.messages = _delete_in_batches(old_messages(cutoff), batch_size, report)
    return result
