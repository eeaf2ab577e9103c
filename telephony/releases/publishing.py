"""Publish the draft as a new release, or make an earlier release live again.

Both run in one transaction that locks the FlowsVersion row, so two publishes never
interleave: the second waits, then finds the live release moved (when it said which
one it reviewed) and is told so instead of publishing a draft nobody reviewed. The new
release is live for new calls as soon as the transaction commits: every worker re-reads
FlowsVersion within a second (flows/cache.py). Calls in progress stay on their release.
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max

from telephony.exceptions import NothingToPublish, PublishBlocked, PublishConflict, PublishError
from telephony.flows import cache
from telephony.flows.fixtures import content_hash, draft_fixture
from telephony.models import FlowsVersion, Release
from telephony.tools import flow_checks

logger = logging.getLogger(__name__)

UNCHECKED = object()  # "don't compare the live release" (shell commands)


@dataclass(frozen=True)
class Published:
    release: Release
    previous: Release | None  # the release live before
    warnings: list  # flow-check warnings (they never block)


def live_release() -> Release | None:
    """The release callers get now, read from the database."""
    number = FlowsVersion.current()[1]
    return Release.objects.filter(number=number).first() if number else None


def publish(*, note: str = "", author=None, expected_live=UNCHECKED) -> Published:
    """Publish the draft as the next release and make it live.

    Refused (PublishBlocked) while the flow checks report errors; refused
    (NothingToPublish) when the draft is the live release already; refused
    (PublishConflict) when `expected_live` (the release number the diff was reviewed
    against, None for none) is no longer live."""
    with transaction.atomic():
        state = FlowsVersion.locked()
        _expect(state, expected_live)
        findings = flow_checks.find_problems()
        errors = [f for f in findings if f.severity == flow_checks.ERROR]
        if errors:
            raise PublishBlocked(
                f"Not published: the flow checks found {len(errors)} error(s). Fix them, "
                "then publish again.",
                findings=findings,
            )
        fixture = draft_fixture()
        previous = _release(state.live_release)
        if previous is not None and previous.content_hash == content_hash(fixture):
            raise NothingToPublish(
                f"Nothing to publish: the draft is release {previous.number}, which is live."
            )
        release = _store(fixture, note=note, author=author)
        _make_live(state, release)
    logger.info("Release %s published by %s: %s", release.number, author or "a command", note)
    return Published(release, previous, [f for f in findings if f.severity != flow_checks.ERROR])


def roll_back(*, to: int, note: str = "", author=None, expected_live=UNCHECKED) -> Published:
    """Make release `to` live again, as a new release with its content (so the history
    says who rolled back, when and why, and calls on any release finish where they are)."""
    with transaction.atomic():
        state = FlowsVersion.locked()
        _expect(state, expected_live)
        earlier = _release(to)
        if earlier is None:
            raise PublishError(f"There is no release {to}.")
        previous = _release(state.live_release)
        if previous is not None and previous.content_hash == earlier.content_hash:
            raise NothingToPublish(
                f"Release {to} is what callers get already (live: release {previous.number})."
            )
        release = _store(
            earlier.fixture,
            note=note or f"Rolled back to release {to}.",
            author=author,
            rolled_back_to=to,
        )
        _make_live(state, release)
    logger.info("Rolled back to release %s as release %s by %s", to, release.number, author)
    return Published(release, previous, [])


def _expect(state: FlowsVersion, expected_live) -> None:
    if expected_live is not UNCHECKED and state.live_release != expected_live:
        raise PublishConflict(
            f"Release {state.live_release} was published meanwhile (you reviewed the changes "
            f"against {'release ' + str(expected_live) if expected_live else 'no release'}). "
            "Review the changes again, then publish."
        )


def _release(number: int | None) -> Release | None:
    return Release.objects.filter(number=number).first() if number else None


def _store(fixture: str, *, note: str, author, rolled_back_to: int | None = None) -> Release:
    number = (Release.objects.aggregate(Max("number"))["number__max"] or 0) + 1
    return Release.objects.create(
        number=number,
        note=note.strip(),
        author=author if getattr(author, "pk", None) else None,
        fixture=fixture,
        content_hash=content_hash(fixture),
        rolled_back_to=rolled_back_to,
    )


def _make_live(state: FlowsVersion, release: Release) -> None:
    state.live_release = release.number
    state.save(update_fields=["live_release"])
    cache.live_release_changed(release.number)
