"""Reads: the release a call runs on, and its flows, from the worker's memory once held.

The webhooks never touch the ORM directly; they ask here. A release is read from its
fixture once per worker (flows/fixtures.py: a fixed number of queries, whatever its
size) and kept for good, since it never changes; the draft is read the same way and kept
until staff next change it (flows/cache.py). Callers get the live release; test callers
and the simulator get the draft ("draft").
"""

from telephony.exceptions import DatabaseUnavailable
from telephony.flows import cache
from telephony.flows.cache import DRAFT
from telephony.flows.callers import rule_for
from telephony.flows.fixtures import LoadedFlow, Snapshot, draft_fixture, read_snapshot
from telephony.models import CallerRule, Release, TestCaller

__all__ = ["DRAFT", "LoadedFlow", "Snapshot", "load_flow", "snapshot", "live_snapshot"]


def is_release_label(release: str) -> bool:
    return release == DRAFT or (release.isdigit() and len(release) < 10)


def load_snapshot(release: str) -> Snapshot | None:
    """Read a release (its number as text, or "draft") from the database; None if none."""
    if release == DRAFT:
        return read_snapshot(draft_fixture(), DRAFT)
    fixture = Release.objects.filter(number=int(release)).values_list("fixture", flat=True).first()
    return read_snapshot(fixture, release) if fixture is not None else None


def snapshot(release: str, *, try_anyway: bool = False) -> Snapshot | None:
    """The release, from this worker's memory once held; None if there is no such release.

    `try_anyway`: read it even if the database was away a moment ago (for a webhook that
    needs the database anyway, such as one storing a message)."""
    if not is_release_label(release):
        return None
    return cache.for_release(
        release, ("snapshot",), lambda: load_snapshot(release), try_anyway=try_anyway
    )


# The watcher reads each newly published release before new calls get it (flows/cache.py).
cache.prepare_release = lambda number: snapshot(str(number))


def live_snapshot() -> Snapshot | None:
    """The release callers get now; None while nothing has been published."""
    number = cache.live_release()
    return snapshot(str(number)) if number is not None else None


def load_flow(slug: str, release: str = DRAFT) -> LoadedFlow | None:
    """One flow of a release (default: the draft), read now (admin previews, tests)."""
    loaded = load_snapshot(release)
    return loaded.flow(slug) if loaded else None


def callers_on_draft(*, try_anyway: bool = False) -> frozenset[str]:
    """The numbers (E.164) that hear the draft; kept until the draft next changes."""
    return cache.memo(
        ("test-callers",),
        lambda: frozenset(str(n) for n in TestCaller.objects.values_list("number", flat=True)),
        try_anyway=try_anyway,
    )


def release_for_caller(caller: str, *, try_anyway: bool = False) -> str:
    """The release this caller gets: the draft for a test caller, else the live one
    ("" while nothing has been published)."""
    try:
        testing = bool(caller) and caller in callers_on_draft(try_anyway=try_anyway)
    except DatabaseUnavailable:  # while the database is away, everybody gets the live one
        testing = False
    if testing:
        return DRAFT
    number = cache.live_release()
    return str(number) if number is not None else ""


def caller_rule(
    release: str, *, to: str, caller: str, sms: bool = False, try_anyway: bool = False
) -> CallerRule | None:
    """The caller rule of `release` for `caller` calling (texting) our number `to`."""
    loaded = snapshot(release, try_anyway=try_anyway) if release else None
    if loaded is None or not loaded.caller_rules:
        return None
    return rule_for(loaded.caller_rules, to=to, caller=caller, sms=sms)
