"""Deleting voicemails: the recording at Twilio first, then the row, so nothing is left
at Twilio that nobody here knows of. A recording Twilio refuses to delete keeps its row
(and says why); `prune()` deletes everything older than a cut-off the same way.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from telephony.exceptions import TelephonyError
from telephony.models import Voicemail
from telephony.sending.backends import get_backend

logger = logging.getLogger(__name__)


def delete(voicemail: Voicemail) -> None:
    """Delete the recording at Twilio, then the row. TelephonyError (the row kept) if
    Twilio could not delete it; a recording Twilio no longer has counts as deleted."""
    if voicemail.recording_sid:
        get_backend().delete_recording(voicemail.recording_sid)
    voicemail.delete()
    logger.info("Voicemail %s deleted here and at Twilio", voicemail.recording_sid)


@dataclass
class Pruned:
    deleted: int = 0
    kept: list[tuple[Voicemail, str]] = field(default_factory=list)  # (row, why)


def older_than(age: timedelta):
    return Voicemail.objects.filter(created_at__lt=timezone.now() - age).order_by("created_at")


def prune(*, age: timedelta, dry_run: bool = False) -> Pruned:
    """Delete the voicemails older than `age`, here and at Twilio, one at a time (a
    failure keeps that one and goes on with the rest)."""
    result = Pruned()
    for voicemail in older_than(age).iterator():
        if dry_run:
            result.deleted += 1
            continue
        try:
            delete(voicemail)
        except TelephonyError as error:
            result.kept.append((voicemail, str(error)))
            logger.warning("Voicemail %s kept: %s", voicemail.recording_sid, error)
        else:
            result.deleted += 1
    return result
