"""The broadcast task on Django's Tasks API: each run sends for up to
TELEPHONY_BROADCAST_TASK_SECONDS, then enqueues itself again (later, with run_after, when
Twilio is busy), so a worker is never held for long and a pause takes effect at once.
TELEPHONY_BROADCAST_TASKS such chains run side by side; they share one pace."""

from django.conf import settings
from django_tasks import TaskContext, task

from telephony.broadcasts import sending


@task(takes_context=True)
def send_broadcast(context: TaskContext, broadcast_id: int, attempt: int = 1) -> dict:
    result = sending.run(
        broadcast_id, seconds=settings.TELEPHONY_BROADCAST_TASK_SECONDS, attempt=attempt
    )
    if result.outcome == "more":
        again = context.task_result.task
        if result.run_after is not None:
            again = again.using(run_after=result.run_after)
        busy = result.run_after is not None and result.sent == 0
        again.enqueue(broadcast_id=broadcast_id, attempt=attempt + 1 if busy else 1)
    return {"broadcast_id": broadcast_id, "outcome": result.outcome, "sent": result.sent}
