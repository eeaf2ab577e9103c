"""In-call texts as background tasks: the Sms step webhook records and enqueues, a real task
worker sends through the real twilio backend to the fake Twilio (tests/fake_twilio.py).

Every test here is transactional: the worker (`db_worker`, or an RQ worker against the real
Redis) runs in transactions of its own, as it does in production.
"""

import os
import signal
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from telephony.logs import statuses
from telephony.models import MessageLog, OptOut
from telephony.sending import services, tasks
from telephony.webhooks.signatures import SIMULATION_PARAM
from telephony.webhooks.voice import SmsStepWebhook
from tests.conftest import parse_twiml, run_tasks, verbs
from tests.factories import step_path

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = "+15005550006"
CALLER = "+14155551234"
REDIS_TEST_URL = "redis://127.0.0.1:6379/5"  # db 5 is this project's in tests; flushed


def sms_step(twilio, call_sid="CA9", caller=CALLER):
    path = step_path("text-address", "sms", "sms")
    params = {"CallSid": call_sid, "From": caller, "To": DEMO, "Direction": "inbound"}
    return parse_twiml(twilio.post(path, params))


def message_posts(fake_twilio):
    return fake_twilio.requests_to("/Messages.json")


def task_results():
    return list(DBTaskResult.objects.order_by("enqueued_at"))


# --- the webhook answers at once; a worker sends ---------------------------------------------


def test_the_webhook_asks_twilio_nothing_and_a_worker_sends_it_once(live_demo, twilio, fake_twilio):
    root = sms_step(twilio)
    assert verbs(root) == ["Say", "Hangup"]  # the call goes straight on
    assert "sent our address" in root.find("Say").text
    assert fake_twilio.received == []
    log = MessageLog.objects.get()
    assert (log.status, log.sid, log.call_sid) == (statuses.PENDING, None, "CA9")
    [queued] = task_results()
    assert queued.status == TaskResultStatus.READY
    assert queued.args_kwargs == {"args": [], "kwargs": {"message_id": log.pk}}

    run_tasks()
    [post] = message_posts(fake_twilio)
    assert (post.field("To"), post.field("From")) == (CALLER, DEMO)
    assert "500 Example Street" in post.field("Body")
    log.refresh_from_db()
    assert log.status == "queued" and log.sid.startswith("SM")
    [done] = task_results()
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == {"message_id": log.pk, "status": "queued", "sid": log.sid}

    run_tasks()  # nothing left to do
    assert len(message_posts(fake_twilio)) == 1


def test_a_retried_webhook_enqueues_nothing_new(live_demo, twilio, fake_twilio):
    first, again = sms_step(twilio), sms_step(twilio)
    assert verbs(first) == verbs(again) == ["Say", "Hangup"]
    assert MessageLog.objects.count() == 1 and len(task_results()) == 1
    run_tasks()
    sms_step(twilio)  # a retry after the message went out
    run_tasks()
    assert len(message_posts(fake_twilio)) == 1 and len(task_results()) == 1


def test_a_simulated_call_queues_nothing(live_demo, twilio, fake_twilio):
    path = step_path("text-address", "sms", "sms")
    params = {"CallSid": "CA9", "From": CALLER, "To": DEMO, "Direction": "inbound"}
    root = parse_twiml(twilio.post(path, {**params, SIMULATION_PARAM: "1"}))
    assert verbs(root) == ["Say", "Hangup"]
    assert MessageLog.objects.count() == 0 and task_results() == []


# --- retries, refusals, timeouts ---------------------------------------------------------------


def test_twilio_busy_leaves_it_pending_and_a_later_task_sends_it_once(
    live_demo, twilio, fake_twilio, settings
):
    # 429 to every one of the twilio backend's own quick attempts: TwilioUnavailable.
    fake_twilio.fail_next(429, 20429, "Too Many Requests", times=settings.TELEPHONY_RETRY_ATTEMPTS)
    sms_step(twilio)
    run_tasks()
    assert len(message_posts(fake_twilio)) == settings.TELEPHONY_RETRY_ATTEMPTS
    log = MessageLog.objects.get()
    assert log.status == statuses.PENDING  # the Message log shows it waiting
    assert log.error_message.startswith("Waiting to retry: Twilio send SMS")
    first, retry = task_results()
    assert first.status == TaskResultStatus.SUCCESSFUL
    assert first.return_value["status"] == "pending"
    assert retry.status == TaskResultStatus.READY
    assert retry.args_kwargs["kwargs"] == {"message_id": log.pk, "attempt": 2}
    assert retry.run_after > first.started_at  # later, not at once

    run_tasks()  # too early: the retry waits for its run_after
    assert DBTaskResult.objects.get(pk=retry.pk).status == TaskResultStatus.READY
    time.sleep(max(0.0, (retry.run_after - timezone.now()).total_seconds()) + 0.05)
    recovered = len(message_posts(fake_twilio))
    run_tasks()
    assert len(message_posts(fake_twilio)) == recovered + 1  # Twilio is back: sent, once
    log.refresh_from_db()
    assert log.status == "queued" and log.sid.startswith("SM")
    assert DBTaskResult.objects.get(pk=retry.pk).status == TaskResultStatus.SUCCESSFUL


def test_retries_are_bounded_then_the_message_is_failed(live_demo, twilio, fake_twilio, settings):
    settings.TELEPHONY_TASK_RETRY_ATTEMPTS = 2
    settings.TELEPHONY_TASK_RETRY_DELAY = settings.TELEPHONY_TASK_RETRY_MAX_DELAY = 0
    fake_twilio.fail_next(503, 20503, "Service Unavailable", times=100)
    sms_step(twilio)
    run_tasks()  # attempt 1, then (run_after already passed) attempt 2
    assert len(message_posts(fake_twilio)) == 2 * settings.TELEPHONY_RETRY_ATTEMPTS
    log = MessageLog.objects.get()
    assert log.status == statuses.FAILED and "Twilio send SMS" in log.error_message
    first, last = task_results()
    assert last.status == TaskResultStatus.FAILED
    assert last.exception_class_path == "telephony.exceptions.TwilioUnavailable"


def test_a_refusal_is_recorded_as_failed_and_not_retried(live_demo, twilio, fake_twilio):
    fake_twilio.fail_next(400, 21614, "To number cannot receive SMS")
    sms_step(twilio)
    run_tasks()
    run_tasks()
    assert len(message_posts(fake_twilio)) == 1
    log = MessageLog.objects.get()
    assert (log.status, log.error_code) == (statuses.FAILED, 21614)
    [result] = task_results()  # no retry enqueued
    assert result.status == TaskResultStatus.FAILED
    assert result.exception_class_path == "telephony.exceptions.CannotReceiveSms"


def test_twilio_opting_the_caller_out_is_remembered(live_demo, twilio, fake_twilio):
    fake_twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    sms_step(twilio)
    run_tasks()
    assert MessageLog.objects.get().status == statuses.FAILED
    assert OptOut.objects.filter(number=CALLER, source=OptOut.Source.TWILIO).exists()


def test_a_timeout_is_recorded_as_unknown_and_never_resent(
    live_demo, twilio, fake_twilio, settings
):
    settings.TELEPHONY_TWILIO_TIMEOUT = 0.3
    fake_twilio.delay_next(1.0, path_contains="Messages")  # Twilio may well have sent it
    sms_step(twilio)
    run_tasks()
    run_tasks()
    assert len(message_posts(fake_twilio)) == 1
    log = MessageLog.objects.get()
    assert log.status == statuses.UNKNOWN
    assert log.error_message.startswith("Outcome unknown: check the Twilio console.")
    [result] = task_results()
    assert result.status == TaskResultStatus.FAILED
    assert result.exception_class_path == "telephony.exceptions.TwilioTimeout"


def test_a_caller_who_opts_out_while_it_waits_is_not_texted(live_demo, twilio, fake_twilio):
    sms_step(twilio)
    OptOut.objects.create(number=CALLER)  # texted STOP before a worker got to it
    run_tasks()
    assert message_posts(fake_twilio) == []
    log = MessageLog.objects.get()
    assert log.status == statuses.FAILED and "opted out" in log.error_message


def test_two_workers_racing_one_row_send_it_once(live_demo, twilio, fake_twilio):
    from django.db import connections

    sms_step(twilio)
    log = MessageLog.objects.get()
    tasks.deliver_sms.enqueue(message_id=log.pk)  # the same message queued twice
    hold = fake_twilio.hold_next(path_contains="Messages")

    def first_worker():
        try:
            worker = Worker(
                queue_names=["default"],
                interval=0,
                batch=True,
                backend_name="default",
                startup_delay=False,
                max_tasks=1,
                worker_id="worker-a",
                excluded_queue_names=[],
            )
            worker.run()
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert hold.arrived.wait(10)  # worker A claimed the row and is asking Twilio
        run_tasks()  # worker B takes the other task meanwhile
    finally:
        hold.release()
        thread.join(10)
    assert len(message_posts(fake_twilio)) == 1
    log.refresh_from_db()
    assert log.status == "queued"
    outcomes = sorted(r.return_value["status"] for r in task_results())
    assert outcomes == ["queued", "skipped"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
def test_eight_workers_claiming_one_row_at_once_send_it_once(live_demo, twilio, fake_twilio):
    from django.db import connections

    sms_step(twilio)
    log = MessageLog.objects.get()
    barrier = threading.Barrier(8)
    sent = []

    def deliver():
        try:
            barrier.wait()
            sent.append(services.deliver_pending_sms(message_id=log.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(message_posts(fake_twilio)) == 1
    assert sum(row is not None for row in sent) == 1


def test_a_killed_worker_leaves_the_row_claimed_and_it_is_never_resent(
    live_demo, twilio, fake_twilio
):
    sms_step(twilio)
    # What a worker killed mid-request leaves behind: the row claimed, no outcome.
    MessageLog.objects.update(status=statuses.SUBMITTING)
    tasks.deliver_sms.enqueue(message_id=MessageLog.objects.get().pk)  # run again
    run_tasks()
    assert message_posts(fake_twilio) == []
    assert MessageLog.objects.get().status == statuses.SUBMITTING


# --- the task backend away -----------------------------------------------------------------


def test_when_the_message_cannot_be_queued_the_caller_hears_so(live_demo, twilio, settings):
    # RQ on a port where nothing listens: the enqueue fails within the connect timeout.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:9/5?socket_connect_timeout=0.5"}}
    started = time.monotonic()
    root = sms_step(twilio)
    assert time.monotonic() - started < 2
    assert [el.text for el in root.iter("Say")][0] == SmsStepWebhook.NOT_SENT
    assert verbs(root) == ["Say", "Say", "Hangup"]  # and the call goes on
    log = MessageLog.objects.get()
    assert log.status == statuses.FAILED and "ConnectionError" in log.error_message


# --- the admin shows what waits and what failed ------------------------------------------------


def test_staff_see_waiting_messages_and_failed_tasks(live_demo, twilio, fake_twilio, admin_client):
    fake_twilio.fail_next(400, 21614, "To number cannot receive SMS")
    sms_step(twilio)
    page = admin_client.get("/admin/telephony/messagelog/", {"status": "pending"})
    assert page.status_code == 200 and b"+14155551234" in page.content
    run_tasks()
    page = admin_client.get(
        "/admin/django_tasks_database/dbtaskresult/", {"status__exact": "FAILED"}
    )
    assert page.status_code == 200
    assert b"deliver_sms" in page.content and b"1 Task Result" in page.content
    result = DBTaskResult.objects.get()
    detail = admin_client.get(f"/admin/django_tasks_database/dbtaskresult/{result.pk}/change/")
    assert detail.status_code == 200 and b"CannotReceiveSms" in detail.content


def test_staff_with_the_view_permission_see_task_results(client, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    url = "/admin/django_tasks_database/dbtaskresult/"
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_dbtaskresult"))
    page = client.get(url, {"status__exact": "READY"})
    assert page.status_code == 200 and b"0 Task Results" in page.content


# --- RQ: the same task through django_tasks_rq and a real RQ worker ------------------------------


@pytest.fixture
def rq(settings):
    """The RQ backend on the real Redis (db 5, flushed before and after)."""
    import redis

    connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5)
    try:
        connection.ping()
    except redis.ConnectionError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is unreachable at {REDIS_TEST_URL}; on CI the RQ test must run")
        pytest.skip(
            f"Redis is unreachable at {REDIS_TEST_URL} (the RQ tests need it; CI runs them)"
        )
    connection.flushdb()
    settings.TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    settings.RQ_QUEUES = {"default": {"URL": REDIS_TEST_URL}}
    yield connection
    connection.flushdb()


def run_rq_worker(**options) -> None:
    """`manage.py rqworker --burst --job-class django_tasks_rq.Job`, in this process (RQ's
    SimpleWorker: no fork, so the job sees this test's database)."""
    import django_rq

    signals = (signal.SIGINT, signal.SIGTERM)
    handlers = {sig: signal.getsignal(sig) for sig in signals}
    try:
        worker = django_rq.get_worker(
            "default", job_class="django_tasks_rq.Job", worker_class="rq.worker.SimpleWorker"
        )
        worker.work(burst=True, **options)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_rq_enqueues_and_an_rq_worker_sends_it_once(live_demo, twilio, fake_twilio, rq):
    from rq import Queue

    sms_step(twilio)
    assert fake_twilio.received == []
    assert Queue("default", connection=rq).count == 1
    assert task_results() == []  # in Redis, not in the database
    run_rq_worker()
    run_rq_worker()
    assert len(message_posts(fake_twilio)) == 1
    log = MessageLog.objects.get()
    assert log.status == "queued" and log.sid.startswith("SM")


def test_rq_schedules_a_retry_with_run_after(live_demo, twilio, fake_twilio, rq, settings):
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    fake_twilio.fail_next(429, 20429, "Too Many Requests", times=settings.TELEPHONY_RETRY_ATTEMPTS)
    sms_step(twilio)
    run_rq_worker()
    assert MessageLog.objects.get().status == statuses.PENDING
    queue = Queue("default", connection=rq)
    assert queue.count == 0  # not queued at once: scheduled for its run_after
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 1
    time.sleep(settings.TELEPHONY_TASK_RETRY_MAX_DELAY + 0.1)
    run_rq_worker(with_scheduler=True)  # the scheduler moves it to the queue; then it runs
    assert MessageLog.objects.get().status == "queued"
    assert len(message_posts(fake_twilio)) == settings.TELEPHONY_RETRY_ATTEMPTS + 1
