"""The flow cache's notices: the token is read only when someone wrote it.

telephony/cachenotices.py: a stamp file beside a SQLite database, LISTEN/NOTIFY on
PostgreSQL. What must hold: a warm webhook does no token query; a write announced by
another process (or machine) is live on the next call; broken notices fall back to
reading the token on every request, without failing any.
"""

import os
import select
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.core.cache import caches
from django.db import connection

from telephony.flows import cache as flowcache
from telephony.flows import cachenotices
from telephony.models import Step
from tests.conftest import parse_twiml
from tests.factories import make_flow, make_number

NUMBER = "+14155550100"
CALL_LOG = 1  # the call's log row, in every voice webhook
TOKEN_READ = 1
ROOT = Path(__file__).resolve().parent.parent

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="LISTEN/NOTIFY needs PostgreSQL"
)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="stamp files are SQLite's")


@pytest.fixture
def stamp(settings, tmp_path) -> Path:
    path = tmp_path / "flows-changed"
    settings.TELEPHONY_CACHE_STAMP_FILE = path
    return path


def call(twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": NUMBER, "CallSid": "CA1"}))
    return [el.text for el in root.iter("Say")]


def old_flow():
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    return flow


def set_token(value="written-elsewhere"):
    caches[flowcache.DATABASE_ALIAS].set(flowcache.GENERATION_KEY, value, timeout=None)


def another_connection():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


def another_worker_saved(token="written-by-another-worker"):
    """What another worker's save leaves behind: a new token, and the notice of it.

    The token is written on this test's connection (the test's transaction must see it);
    on PostgreSQL the NOTIFY comes from another connection, as it would from another
    worker (one sent inside this test's transaction would only be delivered on commit).
    """
    set_token(token)
    if connection.vendor == "postgresql":
        with another_connection() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [cachenotices.CHANNEL])
        conn.close()
        if cachenotices.sources.listeners:
            wait_for_the_listen_socket()
    elif path := cachenotices.stamp_path(connection):
        cachenotices.touch(path)


def listener() -> cachenotices.Listener:
    return cachenotices.sources.listeners[flowcache._database()]


def wait_for_the_listen_socket():
    """PostgreSQL delivers a notification (or a termination) asynchronously, a fraction of a
    millisecond after the commit returned; a call placed after a save is never that quick."""
    assert select.select([listener().conn], [], [], 5)[0]


# --- both databases ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_warm_call_skips_the_token_read(twilio, django_assert_num_queries, settings, stamp):
    old_flow()
    call(twilio)
    with django_assert_num_queries(CALL_LOG):
        assert call(twilio) == ["Old."]
    settings.TELEPHONY_CACHE_NOTICES = False  # as before: the token on every request
    call(twilio)
    with django_assert_num_queries(CALL_LOG + TOKEN_READ):
        assert call(twilio) == ["Old."]


@pytest.mark.django_db
def test_an_orm_edit_is_live_on_the_next_call(twilio, stamp):
    flow = old_flow()
    assert call(twilio) == ["Old."]
    assert call(twilio) == ["Old."]
    step = flow.steps.get()
    step.text = "New."
    step.save()
    assert call(twilio) == ["New."]


@pytest.mark.django_db
def test_a_write_announced_elsewhere_is_live_and_an_unannounced_one_is_not(
    twilio, django_assert_num_queries, stamp
):
    flow = old_flow()
    call(twilio)
    Step.objects.filter(flow=flow).update(text="New.")  # no signal in this process
    set_token("not-announced")
    with django_assert_num_queries(CALL_LOG):  # the notice is what is consulted
        assert call(twilio) == ["Old."]
    another_worker_saved()
    with django_assert_num_queries(CALL_LOG + TOKEN_READ + 3):  # token, then the flow
        assert call(twilio) == ["New."]
    with django_assert_num_queries(CALL_LOG):
        assert call(twilio) == ["New."]


# --- SQLite: the stamp file ----------------------------------------------------------------


@sqlite_only
@pytest.mark.django_db
def test_the_stamp_moves_on_every_write_but_only_once_committed(stamp):
    flowcache.invalidate()  # inside the test's transaction: uncommitted, so not announced
    assert not stamp.exists()
    marks = set()
    for _ in range(20):  # many writes within one tick of the kernel's coarse clock
        cachenotices.touch(str(stamp))
        st = stamp.stat()
        marks.add((st.st_mtime_ns, st.st_size, st.st_ino))
    assert len(marks) == 20


@sqlite_only
@pytest.mark.django_db
def test_a_removed_stamp_is_recreated_and_the_token_read(twilio, django_assert_num_queries, stamp):
    flow = old_flow()
    call(twilio)
    Step.objects.filter(flow=flow).update(text="New.")
    set_token()
    stamp.unlink()  # e.g. a writer that could not update it removed it
    with django_assert_num_queries(CALL_LOG + TOKEN_READ + 3):
        assert call(twilio) == ["New."]
    assert stamp.exists()
    with django_assert_num_queries(CALL_LOG):
        assert call(twilio) == ["New."]


@sqlite_only
@pytest.mark.django_db
def test_a_stamp_replaced_by_another_file_is_followed(twilio, django_assert_num_queries, stamp):
    flow = old_flow()
    call(twilio)
    with django_assert_num_queries(CALL_LOG):  # the open stamp has not moved
        call(twilio)
    Step.objects.filter(flow=flow).update(text="New.")
    set_token()
    replacement = stamp.with_name("replacement")
    replacement.write_text("another file")  # e.g. restored from a backup, or an editor's save
    replacement.replace(stamp)
    with django_assert_num_queries(CALL_LOG + TOKEN_READ + 3):
        assert call(twilio) == ["New."]
    cachenotices.touch(str(stamp))  # and the new file is the one watched from now on
    set_token("again")
    Step.objects.filter(flow=flow).update(text="Newer.")
    assert call(twilio) == ["Newer."]


@sqlite_only
@pytest.mark.django_db
def test_an_unusable_stamp_means_reading_the_token_every_time(
    twilio, django_assert_num_queries, settings, tmp_path
):
    settings.TELEPHONY_CACHE_STAMP_FILE = tmp_path / "no-such-directory" / "flows-changed"
    flow = old_flow()
    call(twilio)
    for _ in range(2):
        with django_assert_num_queries(CALL_LOG + TOKEN_READ):
            assert call(twilio) == ["Old."]
    Step.objects.filter(flow=flow).update(text="New.")
    set_token()
    assert call(twilio) == ["New."]


SCRIPT = """
import os, subprocess, sys
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from tests.conftest import SignedClient, parse_twiml
from tests.factories import make_flow, make_number

call_command("migrate", verbosity=0)
flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
make_number("+14155550100", flow)
twilio = SignedClient(Client())

def call():
    response = twilio.post("/twilio/voice/", {"To": "+14155550100", "CallSid": "CA1"})
    return [el.text for el in parse_twiml(response).iter("Say")]

call()
with CaptureQueriesContext(connection) as warm:
    assert call() == ["Old."]
print("token reads", sum("cache_generation" in q["sql"] for q in warm.captured_queries))
# Another process saves the step: its signals write the token and move the stamp.
edit = "from telephony.models import Step; s = Step.objects.get(); s.text = 'New.'; s.save()"
subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", edit], check=True)
print("after", call())
print("stamp", os.path.exists(os.environ["DB"] + "-flows-changed"))
"""


@sqlite_only
def test_a_sqlite_file_database_in_two_processes(tmp_path):
    """The real thing: a database file, its default stamp, a save by another process."""
    db = tmp_path / "db.sqlite3"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"sqlite:///{db}",
        "DB": str(db),
    }
    env.pop("TELEPHONY_CACHE_STAMP_FILE", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:3] == ["token reads 0", "after ['New.']", "stamp True"]


# --- PostgreSQL: LISTEN/NOTIFY ---------------------------------------------------------------


@postgresql_only
@pytest.mark.django_db
def test_a_notify_from_another_connection_drops_the_store(twilio, django_assert_num_queries):
    flow = old_flow()
    call(twilio)
    Step.objects.filter(flow=flow).update(text="New.")
    set_token()
    with django_assert_num_queries(CALL_LOG):  # no NOTIFY, no token query
        assert call(twilio) == ["Old."]
    another_worker_saved()
    with django_assert_num_queries(CALL_LOG + TOKEN_READ + 3):
        assert call(twilio) == ["New."]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_notify_is_delivered_when_the_other_machine_commits(twilio):
    """Another machine's save, in SQL: the step, the token and the NOTIFY in one transaction."""
    flow = old_flow()
    step = flow.steps.get()
    assert call(twilio) == ["Old."]
    store = caches[flowcache.DATABASE_ALIAS]
    key = store.make_and_validate_key(flowcache.GENERATION_KEY)
    other = another_connection()
    other.autocommit = False
    with other.cursor() as cursor:
        cursor.execute("UPDATE telephony_step SET text = 'New.' WHERE id = %s", [step.pk])
        cursor.execute(
            f"UPDATE {store._table} SET value = 'another-machine' WHERE cache_key = %s", [key]
        )
        assert cursor.rowcount == 1
        cursor.execute("SELECT pg_notify(%s, '')", [cachenotices.CHANNEL])
    assert call(twilio) == ["Old."]  # not committed: nothing changed yet
    other.commit()
    other.close()
    wait_for_the_listen_socket()
    assert call(twilio) == ["New."]


@postgresql_only
@pytest.mark.django_db
def test_a_lost_listen_connection_falls_back_then_reconnects(
    twilio, django_assert_num_queries, monkeypatch, caplog
):
    monkeypatch.setattr(cachenotices, "RETRY_SECONDS", 3600)
    flow = old_flow()
    call(twilio)
    with another_connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [listener().conn.get_backend_pid()])
    conn.close()
    wait_for_the_listen_socket()
    Step.objects.filter(flow=flow).update(text="New.")
    set_token()  # while nobody listens: no notice will ever come
    with django_assert_num_queries(CALL_LOG + TOKEN_READ + 3):
        assert call(twilio) == ["New."]
    assert "Flow cache notices unavailable" in caplog.text
    with django_assert_num_queries(CALL_LOG + TOKEN_READ):  # until it reconnects
        assert call(twilio) == ["New."]
    listener().retry_at = 0  # the retry delay is over
    # Listening again: what happened meanwhile is unknown, so the token and the flow are
    # read once more.
    with django_assert_num_queries(CALL_LOG + TOKEN_READ + 3):
        assert call(twilio) == ["New."]
    with django_assert_num_queries(CALL_LOG):
        assert call(twilio) == ["New."]
    assert caplog.text.count("Flow cache notices unavailable") == 1


@postgresql_only
@pytest.mark.django_db
def test_a_forked_child_opens_its_own_listen_connection(twilio):
    old_flow()
    call(twilio)
    parent = listener().conn
    pid = os.fork()
    if pid == 0:  # the child: its first look must not touch the parent's socket
        code = 1
        try:
            code = 0 if listener().changed() is True and listener().conn is not parent else 1
            listener().close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert listener().conn is parent
    assert listener().changed() is False  # the parent's session is intact
