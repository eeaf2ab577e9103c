"""End-to-end fault tests: gunicorn with the production settings, real PostgreSQL behind a
switchable proxy, Redis at a closed port or a black hole, bad bytes, a killed worker.

They assert the "Faults" table of the design (and README), not what the code happens to
do today:

- database gone, warm worker: calls and Gather round trips are answered from the release it
  holds, within 2 s, whether the database refuses connections or never answers;
- database gone, cold worker: a polite sentence and a hangup within 2 s, never a 5xx;
- inbound SMS and status callbacks while the database is gone: a 5xx (Twilio then tries the
  Fallback URL) and an ERROR log line with the whole payload, which `manage.py
  replay_webhook LOGFILE` later replays, exactly once however often it runs;
- Redis gone (closed port, or a black hole): callers, texters, status callbacks and staff
  are unaffected, every request answered within 2 s;
- NUL bytes, lone surrogates, invalid UTF-8 and oversize values in any field of any webhook:
  200 with TwiML or 400, never 500; stored rows lose the bad bytes; the server keeps
  answering and logging;
- a worker SIGKILLed under load: every call answered (one retry on a reset connection, as
  Twilio tries the fallback); every call answered before the worker's last
  TELEPHONY_CALL_LOG_DELAY has its call log row, and the final status callbacks restore
  the rest.

Every request has a timeout and every wait is bounded; servers, proxies and databases are
ended by fixture finalizers. Helpers: tests/servers.py.
"""

import os
import secrets
import signal
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable

import pytest

from tests import servers
from tests.servers import (
    DEMO_NUMBER,
    Gunicorn,
    SignedClient,
    TcpProxy,
    count_rows,
    count_sids,
    fetch_rows,
    wait_for,
)

# What a SIGKILLed worker may lose, as README "Call log rows" states it: the rows it queued
# in its last TELEPHONY_CALL_LOG_DELAY seconds (0.1 s; the margin covers the batch's own
# write and this machine's scheduling). Every call answered before that has its row, and
# Twilio's final status callback restores the others (without their flow).
CALL_LOG_DELAY = 0.1
KILL_MARGIN = 0.5

ANSWER_WITHIN = 2.0  # seconds: the spec's bound for every request under a fault
TIMEOUT = 5.0  # seconds: the client gives up here (so a hang fails, and fails fast)
PG_TEMPLATE = "sb_faults_template"
SUPERUSER, SUPERUSER_PASSWORD = "faults-admin", "faults-admin-password-1"

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        (servers.ROOT / ".env").exists(),
        reason="a local .env would leak into the production settings",
    ),
]

needs_postgres = pytest.mark.skipif(
    not servers.postgres_available(), reason="PostgreSQL is not running on 127.0.0.1:5432"
)


# --- Twilio's parameters ---------------------------------------------------------------------


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def caller() -> str:
    """A random, valid US number (exchange 200-999: the first digit is never 0 or 1)."""
    return f"+1415{200 + secrets.randbelow(800)}{secrets.randbelow(10**4):04d}"


def voice_params(sid: str | None = None, *, from_: str = "+14155551234", status="ringing"):
    return {
        "AccountSid": servers.ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": sid or call_sid(),
        "CallStatus": status,
        "Called": DEMO_NUMBER,
        "Caller": from_,
        "Direction": "inbound",
        "From": from_,
        "To": DEMO_NUMBER,
    }


def gather_params(sid: str | None = None, digits: str = "1"):
    return voice_params(sid, status="in-progress") | {"Digits": digits, "FinishedOnKey": ""}


def sms_params(sid: str | None = None, *, from_: str = "+14155551234", body: str = "Hello"):
    sid = sid or message_sid()
    return {
        "AccountSid": servers.ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "SmsStatus": "received",
        "From": from_,
        "To": DEMO_NUMBER,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }


def call_status_params(sid: str, status: str = "completed"):
    return voice_params(sid, status=status) | {"CallDuration": "42"}


def canonical(response) -> str:
    """The TwiML as canonical XML, to compare two answers."""
    return ET.canonicalize(response.body.decode("utf-8"), strip_text=True)


def assert_answered(response, within: float = ANSWER_WITHIN, what: str = ""):
    prefix = f"{what}: " if what else ""
    assert response.status == 200, f"{prefix}expected 200: {response}"
    assert response.elapsed < within, f"{prefix}answered after {response.elapsed:.2f} s: {response}"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_template():
    """A PostgreSQL database migrated and seeded once (with a superuser), copied per test."""
    if not servers.postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    url = servers.create_postgres_database(PG_TEMPLATE)
    servers.migrate_and_seed(url)
    env = servers.server_env(url, 0, DJANGO_SUPERUSER_PASSWORD=SUPERUSER_PASSWORD)
    servers.manage(
        env,
        "createsuperuser",
        "--noinput",
        "--username",
        SUPERUSER,
        "--email",
        "faults@example.com",
    )
    yield PG_TEMPLATE
    servers.drop_postgres_database(PG_TEMPLATE)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults-sqlite") / "template.sqlite3"
    servers.migrate_and_seed(servers.sqlite_url(path))
    return path


@pytest.fixture
def pg_database(pg_template, request):
    """make(suffix) -> the URL of a fresh copy of the template (database sb_faults_<suffix>);
    dropped at the end."""
    names = []

    def make(suffix: str) -> str:
        name = f"sb_faults_{suffix}"
        names.append(name)
        return servers.create_postgres_database(name, template=pg_template)

    yield make
    for name in names:
        servers.drop_postgres_database(name)


@pytest.fixture
def sqlite_database(sqlite_template, tmp_path):
    def make(suffix: str) -> str:
        return servers.copy_sqlite(sqlite_template, tmp_path / f"{suffix}.sqlite3")

    return make


@pytest.fixture
def db_proxy():
    """A switchable proxy in front of PostgreSQL; closed at the end."""
    proxy = TcpProxy(servers.POSTGRES)
    yield proxy
    proxy.close()


@pytest.fixture
def start_server(tmp_path):
    """start(database_url, workers=1, **env) -> a running Gunicorn; stopped at the end."""
    started: list[Gunicorn] = []

    def start(database_url: str, *, workers: int = 1, **env) -> Gunicorn:
        port = servers.free_port()
        server = Gunicorn(
            servers.server_env(database_url, port, **env),
            tmp_path / f"gunicorn-{len(started)}.log",
            workers=workers,
        )
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


def via_proxy(database_url: str, proxy: TcpProxy) -> str:
    return database_url.replace(f":{servers.POSTGRES[1]}/", f":{proxy.port}/", 1)


# --- the database goes away ------------------------------------------------------------------


@needs_postgres
def test_warm_worker_answers_from_memory_while_the_database_is_gone(
    pg_database, db_proxy, start_server
):
    direct = pg_database("warm")
    server = start_server(via_proxy(direct, db_proxy))
    server.before_stop.append(db_proxy.down)  # no worker left hanging in a black hole
    client = SignedClient(server.base, timeout=TIMEOUT)

    menu = client.post("/twilio/voice/", voice_params())
    assert_answered(menu, within=TIMEOUT)
    gather = menu.twiml().find("Gather")
    assert gather is not None, menu
    action = gather.get("action")
    assert action, menu
    chosen = client.post(action, gather_params())
    assert_answered(chosen, within=TIMEOUT)
    assert chosen.verbs(), chosen

    for mode in ("down", "blackhole"):
        db_proxy.set_mode(mode)
        for attempt in range(3):
            again = client.post("/twilio/voice/", voice_params())
            assert_answered(again, what=f"database {mode}, call {attempt + 1}")
            assert canonical(again) == canonical(menu), f"database {mode}: not the menu: {again}"
            assert again.twiml().find("Gather") is not None
            round_trip = client.post(action, gather_params())
            assert_answered(round_trip, what=f"database {mode}, Gather {attempt + 1}")
            assert canonical(round_trip) == canonical(chosen), (
                f"database {mode}: not the Gather's answer: {round_trip}"
            )


@needs_postgres
@pytest.mark.parametrize("mode", ["down", "blackhole"])
def test_cold_worker_says_goodbye_while_the_database_is_gone(
    mode, pg_database, db_proxy, start_server
):
    direct = pg_database(f"cold_{mode}")
    db_proxy.set_mode(mode)
    server = start_server(via_proxy(direct, db_proxy))
    server.before_stop.append(db_proxy.down)
    client = SignedClient(server.base, timeout=TIMEOUT)
    for attempt in range(2):  # the second: the worker is not left stuck by the first
        answer = client.post("/twilio/voice/", voice_params())
        assert answer.status is not None and answer.status < 500, (
            f"database {mode}, call {attempt + 1}: {answer}"
        )
        assert_answered(answer)
        root = answer.twiml()
        verbs = [child.tag for child in root]
        assert "Say" in verbs and verbs[-1] == "Hangup", f"not a polite goodbye: {answer}"
        assert root.find("Say").text.strip(), answer


@pytest.fixture(scope="module")
def sms_outage(pg_template, tmp_path_factory):
    """Inbound STOP and a call's final status callback sent while PostgreSQL is down.

    A server behind the proxy takes one call while the database is up (its log row is
    written), then the proxy goes down and the SMS and the status callback come in. Returns
    what was sent, what came back, the server's log file and environment."""
    workdir = tmp_path_factory.mktemp("faults-outage")
    name = "sb_faults_outage"
    direct = servers.create_postgres_database(name, template=pg_template)
    proxy = TcpProxy(servers.POSTGRES)
    port = servers.free_port()
    server = Gunicorn(
        servers.server_env(via_proxy(direct, proxy), port), workdir / "gunicorn.log", workers=1
    )
    try:
        server.start()
        client = SignedClient(server.base, timeout=TIMEOUT)
        warm_sid = call_sid()
        assert_answered(client.post("/twilio/voice/", voice_params(warm_sid)), within=TIMEOUT)
        assert wait_for(lambda: count_rows(direct, "telephony_calllog", sid=warm_sid), timeout=5)

        proxy.down()
        sms = sms_params(from_=caller(), body="STOP")
        status = call_status_params(warm_sid)
        answers = {
            "sms": client.post("/twilio/sms/", sms),
            "status": client.post("/twilio/status/", status),
        }
        time.sleep(0.3)  # the log lines are written before the answer; let the file catch up
        server.stop()
        proxy.up()
        yield {
            "direct_url": direct,
            "env": server.env,
            "log_path": server.log_path,
            "records": server.log_records(),
            "sent": {"sms": sms, "status": status},
            "answers": answers,
        }
    finally:
        server.stop()
        proxy.close()
        servers.drop_postgres_database(name)


def _mentions(value, text: str) -> bool:
    """Whether `text` occurs in any string (key or value) inside a log record."""
    if isinstance(value, str):
        return text in value
    if isinstance(value, dict):
        return any(_mentions(k, text) or _mentions(v, text) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_mentions(item, text) for item in value)
    return text == str(value)


@needs_postgres
def test_sms_and_status_callbacks_fail_over_and_log_their_payload_while_the_database_is_down(
    sms_outage,
):
    for kind, answer in sms_outage["answers"].items():
        assert answer.status is not None and 500 <= answer.status < 600, (
            f"{kind}: Twilio must see a 5xx to try the Fallback URL: {answer}"
        )
    errors = [
        record
        for record in sms_outage["records"]
        if record.get("level") == "ERROR" and str(record.get("logger", "")).startswith("telephony")
    ]
    assert errors, "no ERROR line from a telephony logger:\n" + "\n".join(
        map(str, sms_outage["records"][-10:])
    )
    for kind, payload in sms_outage["sent"].items():
        complete = [
            record
            for record in errors
            if all(_mentions(record, name) and _mentions(record, v) for name, v in payload.items())
        ]
        assert complete, f"no ERROR line holds the whole {kind} payload {payload}:\n" + "\n".join(
            map(str, errors)
        )


@needs_postgres
def test_replay_webhook_restores_what_the_outage_refused_exactly_once(sms_outage):
    env, url = sms_outage["env"], sms_outage["direct_url"]
    sms, status = sms_outage["sent"]["sms"], sms_outage["sent"]["status"]
    for run in (1, 2):  # replaying twice changes nothing the first replay did
        result = servers.manage(env, "replay_webhook", str(sms_outage["log_path"]), check=False)
        assert result.returncode == 0, f"replay {run}: {result.stdout}\n{result.stderr}"
        assert count_rows(url, "telephony_optout", number=sms["From"]) == 1, f"replay {run}"
        assert count_rows(url, "telephony_messagelog", sid=sms["MessageSid"]) == 1
        rows = fetch_rows(
            url, "SELECT status FROM telephony_calllog WHERE sid = %s", [status["CallSid"]]
        )
        assert rows == [("completed",)], f"replay {run}: call log {rows}"


# --- Redis goes away -------------------------------------------------------------------------

REDIS_DB = 6  # the working Redis's database these tests may use (and empty)


def redis_available() -> bool:
    try:
        with servers.socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def static_files():
    """`collectstatic`, as a deployment runs it: the production settings' manifest storage
    cannot render an admin page without it. Removed at the end if it was not there."""
    root = servers.ROOT / "staticfiles"
    existed = root.exists()
    servers.manage(
        servers.server_env("sqlite:///:memory:", 0), "collectstatic", "--noinput", "-v", "0"
    )
    yield root
    if not existed:
        servers.shutil.rmtree(root, ignore_errors=True)


@needs_postgres
@pytest.mark.parametrize(
    "redis",
    [
        # The control: the same steps with Redis working, so a failure below is the fault's.
        pytest.param(
            "working",
            marks=pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379"),
        ),
        "closed-port",
        "blackhole",
    ],
)
def test_redis_gone_changes_nothing_for_callers_texters_or_staff(
    redis, pg_database, static_files, start_server
):
    direct = pg_database(f"redis_{redis.replace('-', '_')}")
    hole = None
    if redis == "working":
        cache_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    elif redis == "closed-port":
        with pytest.raises(OSError):  # nothing listens there
            servers.socket.create_connection(("127.0.0.1", 1), timeout=1).close()
        cache_url = "redis://127.0.0.1:1/0"
    else:
        hole = TcpProxy(None, mode=servers.BLACKHOLE)
        cache_url = f"redis://127.0.0.1:{hole.port}/6"
    try:
        server = start_server(direct, CACHE_URL=cache_url)
        if hole is not None:
            server.before_stop.append(hole.close)
        client = SignedClient(server.base, timeout=TIMEOUT)
        for attempt in range(2):
            call = client.post("/twilio/voice/", voice_params())
            assert_answered(call, what=f"voice {attempt + 1}")
            assert call.twiml().find("Gather") is not None, call
        assert_answered(client.post("/twilio/sms/", sms_params(from_=caller())))
        assert_answered(client.post("/twilio/status/", call_status_params(call_sid())))

        admin = servers.AdminSession(server.base, timeout=TIMEOUT)
        login = admin.login(SUPERUSER, SUPERUSER_PASSWORD)
        assert login.status == 302 and login.elapsed < ANSWER_WITHIN, f"login: {login}"
        ((flow_id,),) = fetch_rows(
            direct, "SELECT id FROM telephony_callflow WHERE slug = %s", ["main-menu"]
        )
        path = f"/admin/telephony/callflow/{flow_id}/change/"
        page = admin.get(path)
        assert_answered(page)
        fields = servers.form_fields(page.body.decode(), form_id="callflow_form")
        assert ("slug", "main-menu") in fields, fields[:10]
        description = f"Edited while Redis was away ({redis})."
        fields = [(k, description if k == "description" else v) for k, v in fields]
        saved = admin.post(path, fields + [("_save", "Save")])
        assert saved.status == 302, f"save: {saved}"
        assert saved.elapsed < ANSWER_WITHIN, f"save: {saved}"
        assert saved.headers.get("Location", "").endswith("/admin/telephony/callflow/"), saved
        assert fetch_rows(
            direct, "SELECT description FROM telephony_callflow WHERE id = %s", [flow_id]
        ) == [(description,)]

        after = client.post("/twilio/voice/", voice_params())
        assert_answered(after, what="voice after the save")
        assert after.twiml().find("Gather") is not None, after
    finally:
        if hole is not None:
            hole.close()
        if redis == "working":
            import redis as redis_client

            redis_client.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()


# --- bad bytes -------------------------------------------------------------------------------

BAD_VALUES = {
    "nul": b"\x00",
    "lone-surrogate": b"\xed\xa0\x80",  # U+D800 encoded as if it were UTF-8
    "invalid-utf8": b"\xff",
    "oversize": b"9" * 100_000,
}


def _webhooks(gather_path: str) -> dict[str, tuple[str, Callable[[], dict]]]:
    """Each webhook URL and a function giving a fresh set of the fields Twilio sends it."""
    return {
        "voice": ("/twilio/voice/", lambda: voice_params(from_=caller())),
        "flow": (
            "/twilio/voice/flows/main-menu/",
            lambda: voice_params(from_=caller(), status="in-progress"),
        ),
        "gather": (
            gather_path,
            lambda: gather_params() | {"SpeechResult": "sales", "Confidence": "0.9"},
        ),
        "sms": ("/twilio/sms/", lambda: sms_params(from_=caller())),
        "call-status": ("/twilio/status/", lambda: call_status_params(call_sid())),
        "message-status": (
            "/twilio/status/",
            lambda: {
                "AccountSid": servers.ACCOUNT_SID,
                "MessageSid": message_sid(),
                "MessageStatus": "undelivered",
                "ErrorCode": "30003",
                "From": DEMO_NUMBER,
                "To": caller(),
            },
        ),
        "sms-fallback": (
            "/twilio/fallback/",
            lambda: (
                sms_params(from_=caller())
                | {"ErrorCode": "11200", "ErrorUrl": "http://127.0.0.1/twilio/sms/"}
            ),
        ),
        "fallback": (
            "/twilio/fallback/",
            lambda: (
                voice_params(status="in-progress")
                | {"ErrorCode": "11200", "ErrorUrl": "http://127.0.0.1/twilio/voice/"}
            ),
        ),
    }


@pytest.mark.parametrize("database", ["postgres", "sqlite"])
def test_bad_bytes_in_any_field_never_cost_a_500_nor_a_log_row(database, request, start_server):
    if database == "postgres":
        if not servers.postgres_available():
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
        url = request.getfixturevalue("pg_database")("bad_bytes")
    else:
        url = request.getfixturevalue("sqlite_database")("bad_bytes")
    server = start_server(url)
    client = SignedClient(server.base, timeout=TIMEOUT)
    menu = client.post("/twilio/voice/", voice_params())
    assert_answered(menu, within=TIMEOUT)
    gather_path = menu.twiml().find("Gather").get("action")

    failures, sent, statuses = [], 0, Counter()
    deadline = time.monotonic() + 45  # the whole matrix; a hung server fails, not hangs
    for webhook, (path, fields) in _webhooks(gather_path).items():
        for name in fields():
            for kind, bad in BAD_VALUES.items():
                if time.monotonic() > deadline:
                    pytest.fail(f"gave up after {sent} requests; failures so far: {failures}")
                params: dict = fields()
                params[name] = params[name].encode() + bad + b"555"
                answer = client.post(path, params)
                sent += 1
                statuses[answer.status] += 1
                if answer.status == 400:
                    continue
                try:
                    assert answer.status == 200
                    answer.twiml()
                except (AssertionError, ET.ParseError, ValueError):
                    failures.append(f"{webhook} {name}={kind}: {answer}")
    print(f"\n{database}: {sent} requests with bad bytes answered {dict(statuses)}")
    assert not failures, f"{len(failures)} of {sent} bad requests:\n" + "\n".join(failures)

    # Stored without the bad bytes: a call from "+1415\0555" is a call from "+1415555".
    calls = {kind: call_sid() for kind in ("nul", "lone-surrogate", "invalid-utf8")}
    for kind, sid in calls.items():
        params = voice_params(sid) | {"From": b"+1415" + BAD_VALUES[kind] + b"555"}
        assert_answered(client.post("/twilio/voice/", params))
    nul_message = message_sid()
    params = sms_params(nul_message) | {"Body": b"hel\x00lo"}
    assert_answered(client.post("/twilio/sms/", params))
    normal = call_sid()
    assert_answered(client.post("/twilio/voice/", voice_params(normal)))
    expected = [normal, *calls.values()]
    logged = wait_for(
        lambda: count_sids(url, "telephony_calllog", expected) == len(expected), timeout=5
    )
    found = fetch_rows(
        url,
        "SELECT sid, from_number FROM telephony_calllog WHERE sid IN (%s, %s, %s, %s)",
        expected,
    )
    assert logged, f"after the bad requests, of calls {expected} only these were logged: {found}"
    stored = dict(found)
    assert stored[calls["nul"]] == "+1415555", stored
    for kind in ("lone-surrogate", "invalid-utf8"):
        assert stored[calls[kind]].replace("\ufffd", "") == "+1415555", (kind, stored)
    bodies = fetch_rows(url, "SELECT body FROM telephony_messagelog WHERE sid = %s", [nul_message])
    assert bodies == [("hello",)], f"the message with a NUL in its body: {bodies}"
    if database == "sqlite":  # PostgreSQL cannot even hold one
        for table in ("telephony_calllog", "telephony_messagelog"):
            sql = f"SELECT sid FROM {table} WHERE instr(from_number || to_number, char(0)) > 0"
            assert fetch_rows(url, sql) == [], f"{table}: rows stored with a NUL byte"


# --- a worker killed under load --------------------------------------------------------------


@needs_postgres
def test_a_killed_worker_loses_at_most_its_last_moment_of_call_rows(pg_database, start_server):
    url = pg_database("kill")
    server = start_server(url, workers=2)
    client = SignedClient(server.base, timeout=TIMEOUT)
    # Both workers warm: a menu answered from memory, a realistic pace.
    for _ in range(6):
        assert_answered(client.post("/twilio/voice/", voice_params()), within=TIMEOUT)
    total, threads = 300, 4
    sids = [call_sid() for _ in range(total)]
    results: dict[str, tuple] = {}
    answered_at: dict[str, float] = {}
    killed_at = [0.0]
    retried: list[str] = []
    next_index = iter(range(total))
    lock = threading.Lock()
    killed = threading.Event()
    assert wait_for(lambda: len(server.workers()) == 2, timeout=10), server.workers()
    victim = server.workers()[0]

    def caller_thread():
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            params = voice_params(sids[i], from_=caller())
            answer = client.post("/twilio/voice/", params)
            if answer.status is None:  # reset by the kill: Twilio tries again (fallback)
                with lock:
                    retried.append(sids[i])
                answer = client.post("/twilio/voice/", params)
            with lock:
                results[sids[i]] = (answer.status, answer.error)
                answered_at[sids[i]] = time.monotonic()
                if len(results) >= total // 3 and not killed.is_set():
                    killed.set()
                    killed_at[0] = time.monotonic()
                    os.kill(victim, signal.SIGKILL)

    workers = [threading.Thread(target=caller_thread, daemon=True) for _ in range(threads)]
    started = time.monotonic()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    assert not any(thread.is_alive() for thread in workers), "callers still running after 60 s"
    assert killed.is_set(), "the worker was never killed"
    replaced = wait_for(
        lambda: victim not in server.workers() and len(server.workers()) == 2, timeout=10
    )

    answered = [sid for sid, (status, _) in results.items() if status == 200]
    others = {sid: result for sid, result in results.items() if result[0] != 200}
    server.stop()  # SIGTERM: the surviving workers write what they queued
    logged = {row[0] for row in fetch_rows(url, "SELECT sid FROM telephony_calllog")}
    missing = [sid for sid in answered if sid not in logged]
    # Only calls answered in the killed worker's last moment may be missing.
    window_start = killed_at[0] - CALL_LOG_DELAY - KILL_MARGIN
    too_early = [sid for sid in missing if answered_at[sid] < window_start]
    print(
        f"\nkilled worker {victim} after {total // 3} of {total} calls ({elapsed:.1f} s, "
        f"{threads} threads): {len(answered)} answered 200, {len(retried)} retried, "
        f"{len(others)} not answered; {len(answered) - len(missing)} of the {len(answered)} "
        f"answered have their call log row ({len(missing)} missing, all answered within "
        f"{CALL_LOG_DELAY + KILL_MARGIN:.1f} s of the kill: {not too_early})"
    )
    assert replaced, "gunicorn did not replace the killed worker"
    assert not others, f"calls not answered 200: {list(others.values())[:5]}"
    assert not too_early, f"{len(too_early)} calls answered well before the kill have no row"

    # Twilio's final status callback for each call creates the rows that were lost.
    server = start_server(url, workers=1)
    client = SignedClient(server.base, timeout=TIMEOUT)
    for sid in missing:
        done = voice_params(sid, status="completed") | {"CallDuration": "7"}
        assert client.post("/twilio/status/", done).status == 200
    assert count_sids(url, "telephony_calllog", answered) == len(answered)


def test_servers_module_cleans_up_its_proxy_threads():
    """The harness itself: a proxy stops its threads and frees its port."""
    with TcpProxy(None, mode=servers.BLACKHOLE) as hole:
        with servers.socket.create_connection(("127.0.0.1", hole.port), timeout=2) as sock:
            sock.settimeout(0.3)
            sock.sendall(b"PING\r\n")
            with pytest.raises(TimeoutError):
                sock.recv(1)
    assert not any(thread.is_alive() for thread in hole.threads)
    with pytest.raises(OSError):
        servers.socket.create_connection(("127.0.0.1", hole.port), timeout=1)
