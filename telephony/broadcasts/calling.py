"""What a worker does for one recipient of a call campaign: place their call exactly once,
at the campaign's and the account's calls per second.

The same steps as a text (broadcasts/sending.py says why each is safe):
1. the recipient was claimed ("sending") by this batch;
2. the attempt is recorded: a pending CallLog (services.record_pending_call), linked to the
   recipient only if this batch still holds it;
3. the next call slot is taken (sending/pace.reserve_call: the campaign's rate, and
   TELEPHONY_ACCOUNT_MAX_CALL_RATE shared by every campaign and worker);
4. services.deliver_pending_call claims the call (pending -> submitting), asks Twilio to
   place it with the flow's URL and our status callback, and records Twilio's answer.
Killed before 4, the call never reached Twilio and is placed later; killed during 4, it
stays "submitting" and the recipient is marked unknown, never called again.

What happens on the call comes back later: the status callbacks move the CallLog's status
(its outcome: answered, no answer, busy, failed), and the Gather webhook of the call
records the option pressed on the recipient (services.record_pressed).
"""

import logging

from django.conf import settings
from django.db import transaction

from telephony.broadcasts.sending import _finish, _requeue
from telephony.exceptions import (
    TelephonyConfigurationError,
    TelephonyError,
    TelephonySendError,
    TelephonyValidationError,
    TwilioTimeout,
    TwilioUnavailable,
)
from telephony.flows.loading import live_snapshot
from telephony.models import Broadcast, BroadcastRecipient
from telephony.sending import pace, services

logger = logging.getLogger(__name__)

Recipient = BroadcastRecipient


def _flow_is_live(campaign: Broadcast) -> bool:
    release = live_snapshot()
    flow = release.flow_objects.get(campaign.flow_slug) if release is not None else None
    return flow is not None and flow.is_active


def _stop(campaign: Broadcast, why: str) -> str:
    """Pause the campaign (staff resume it once fixed): nobody should hear a broken call."""
    Broadcast.objects.filter(pk=campaign.pk, state=Broadcast.State.SENDING).update(
        state=Broadcast.State.PAUSED
    )
    logger.error("Call campaign %s paused: %s", campaign.pk, why)
    return "stopped"


def place_one(campaign: Broadcast, row: BroadcastRecipient) -> str:
    """Call one claimed recipient: "sent" (Twilio accepted the call), "failed",
    "unknown", "lost" (another worker took it over), "retry" (Twilio busy) or "stopped"
    (the campaign was paused: its flow is gone from the live release, or no public URL)."""
    if not _flow_is_live(campaign):
        _requeue([row])
        return _stop(campaign, f"the live release has no active flow {campaign.flow_slug!r}")
    call_id = row.call_id
    if call_id is None:
        try:
            with transaction.atomic():
                log = services.record_pending_call(
                    to=row.number, from_=campaign.sender, flow_slug=campaign.flow_slug
                )
                linked = Recipient.objects.filter(
                    pk=row.pk, claim=row.claim, state=Recipient.State.SENDING
                ).update(call=log)
                if not linked:
                    transaction.set_rollback(True)
                    return "lost"
        except TelephonyConfigurationError as exc:
            _requeue([row])
            return _stop(campaign, str(exc))
        except TelephonyValidationError as exc:
            _finish(row, Recipient.State.FAILED, exc)
            return "failed"
        call_id = log.pk
    # The slot is taken last, just before Twilio is asked (as for texts).
    pace.wait_for_call_slot(f"broadcast:{campaign.pk}", rate=campaign.sender_rate())
    last_try = row.attempts + 1 >= settings.TELEPHONY_TASK_RETRY_ATTEMPTS
    try:
        log = services.deliver_pending_call(call_id=call_id, retry_later=not last_try)
    except TwilioTimeout as exc:
        _finish(row, Recipient.State.UNKNOWN, exc)
        return "unknown"
    except TwilioUnavailable as exc:
        if last_try:
            _finish(row, Recipient.State.FAILED, exc)
            return "failed"
        _requeue([row], attempts=row.attempts + 1, error_message=str(exc)[:2000])
        return "retry"
    except (TelephonySendError, TelephonyError) as exc:  # Twilio refused it, configuration
        _finish(row, Recipient.State.FAILED, exc)
        return "failed"
    if log is None:  # another worker (after a recovery) places or placed this call
        return "lost"
    _finish(row, Recipient.State.SENT, error_code=None, error_message="")
    return "sent"
