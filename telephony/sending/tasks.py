"""Background tasks on Django's Tasks API (the django-tasks backport): work that may wait.

`deliver_sms` sends one outbound message that `services` has already recorded (status
pending), so that no Twilio request runs on a call's critical path: the Sms step webhook
records and enqueues, a worker (`manage.py db_worker`, or RQ's) sends.

Retries are ours; the backport does not retry. When Twilio kept answering 429/5xx (or could
not be reached) until the twilio backend's own quick retries ran out, the message is left
pending and the task enqueues itself again with a later `run_after`: exponential backoff
with jitter, TELEPHONY_TASK_RETRY_ATTEMPTS attempts in all. A refusal (4xx: opted out,
invalid number...) is recorded as failed and not retried; a request Twilio never answered
is recorded as "unknown" and never resent. Either way the task raises, so that the task
backend (the admin's Task results, RQ's failed jobs) shows every message that was not sent.
"""

import random
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import TaskContext, task

from telephony.exceptions import TwilioTimeout, TwilioUnavailable
from telephony.sending import services


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): doubling from
    TELEPHONY_TASK_RETRY_DELAY up to TELEPHONY_TASK_RETRY_MAX_DELAY, with "equal jitter"
    (half fixed, half random) so messages held up by one outage do not all retry at once."""
    base = settings.TELEPHONY_TASK_RETRY_DELAY
    ceiling = min(settings.TELEPHONY_TASK_RETRY_MAX_DELAY, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@task(takes_context=True)
def deliver_sms(context: TaskContext, message_id: int, attempt: int = 1) -> dict:
    """Send the pending MessageLog row `message_id`; returns what happened (JSON)."""
    last_attempt = attempt >= settings.TELEPHONY_TASK_RETRY_ATTEMPTS
    try:
        log = services.deliver_pending_sms(message_id=message_id, retry_later=not last_attempt)
    except TwilioTimeout:
        raise  # outcome unknown: recorded as such, and never sent again
    except TwilioUnavailable:
        if last_attempt:
            raise  # recorded as failed
        run_after = timezone.now() + timedelta(seconds=retry_delay(attempt))
        try:
            # The same task on the same backend and queue this one ran on, only later.
            context.task_result.task.using(run_after=run_after).enqueue(
                message_id=message_id, attempt=attempt + 1
            )
        except Exception as exc:  # no retry will come: say so on the row, not "pending"
            services.fail_pending_sms(message_id=message_id, error=exc)
            raise
        return {"message_id": message_id, "status": "pending", "retry_at": run_after.isoformat()}
    if log is None:  # not pending: sent, failed, or taken by another worker
        return {"message_id": message_id, "status": "skipped"}
    return {"message_id": message_id, "status": log.status, "sid": log.sid}
