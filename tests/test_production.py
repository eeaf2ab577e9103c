"""Production set-up: settings that refuse to start half-configured, a clean `check --deploy`,
the gunicorn config, the health check and one structured log line per webhook."""

import json
import logging
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telephony.json_logging import JsonFormatter
from tests.conftest import parse_twiml
from tests.factories import make_flow, make_number, publish

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    (ROOT / ".env").exists(), reason="a local .env would leak into the production settings"
)


def full_env(**changes) -> dict:
    """The documented production environment (README "Deploying"), nothing inherited."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "switchboard.example.com",
        "DATABASE_URL": "sqlite:////tmp/switchboard-production-test.sqlite3",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "a-real-token",
        "TELEPHONY_PUBLIC_URL": "https://switchboard.example.com",
    }
    env.update(changes)
    return {key: value for key, value in env.items() if value is not None}


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_fails_at_start_naming_it():
    result = manage("check", env=full_env(SECRET_KEY=None))
    assert result.returncode != 0
    assert "ImproperlyConfigured: Set the SECRET_KEY environment variable" in result.stderr
    assert "ALLOWED_HOSTS" not in result.stderr.splitlines()[-1]


def test_every_missing_variable_is_named_at_once():
    result = manage("check", env=full_env(SECRET_KEY=None, TWILIO_AUTH_TOKEN="", DATABASE_URL=None))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "SECRET_KEY, DATABASE_URL, TWILIO_AUTH_TOKEN environment variables" in last


def test_check_deploy_is_clean_with_the_documented_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=full_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_https_is_relaxed():
    env = full_env(SECURE_SSL_REDIRECT="false", SECURE_HSTS_SECONDS="0", SECURE_COOKIES="false")
    result = manage("check", "--deploy", env=env)
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


def test_proxy_header_is_trusted_only_behind_a_named_proxy():
    code = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    plain = manage("shell", "-v", "0", "-c", code, env=full_env())
    proxied = manage("shell", "-v", "0", "-c", code, env=full_env(BEHIND_PROXY="true"))
    assert plain.stdout.strip() == "None", plain.stderr
    assert proxied.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')", proxied.stderr


def test_gunicorn_config_follows_the_environment():
    env = full_env(WEB_CONCURRENCY="3", GUNICORN_BIND="127.0.0.1:8123", GUNICORN_TIMEOUT="14")
    result = subprocess.run(
        [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--print-config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = dict(
        (part.strip() for part in line.split("=", 1)) for line in result.stdout.splitlines()
    )
    assert config["workers"] == "3"
    assert config["bind"] == "['127.0.0.1:8123']"
    assert config["timeout"] == "14"
    assert config["wsgi_app"] == "config.wsgi:application"


@pytest.mark.django_db
def test_healthz_answers_ok_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


@pytest.mark.django_db
def test_every_webhook_logs_sid_number_flow_status_and_duration(twilio, caplog):
    make_number("+14155550100", make_flow("main", steps=[{"verb": "say", "text": "Hi."}]))
    publish()
    caplog.set_level(logging.INFO, logger="telephony.access")
    params = {"To": "+14155550100", "From": "+14155551234", "CallSid": "CA" + "a" * 32}
    parse_twiml(twilio.post("/twilio/voice/", params))
    twilio.post("/twilio/voice/", params, token="wrong-token")
    twilio.client.get("/healthz")
    answered, refused = [r for r in caplog.records if r.name == "telephony.access"]
    assert answered.webhook == "voice"
    assert answered.sid == "CA" + "a" * 32
    assert answered.number == "+14155550100"
    assert answered.flow == "main"
    assert answered.release == "1"
    assert answered.status == 200
    assert 0 < answered.duration_ms < 10_000
    assert refused.status == 403


@pytest.mark.django_db
def test_flow_urls_log_their_slug(twilio, caplog):
    make_flow("sales", steps=[{"verb": "say", "text": "Hi."}])
    publish()
    caplog.set_level(logging.INFO, logger="telephony.access")
    twilio.post("/twilio/voice/flows/sales/", {"CallSid": "CA1"})
    twilio.post("/twilio/releases/draft/flows/sales/", {"CallSid": "CA1"})
    live, draft = [r for r in caplog.records if r.name == "telephony.access"]
    assert (live.webhook, live.flow, live.release, live.sid) == ("flow", "sales", "1", "CA1")
    assert (draft.webhook, draft.release) == ("release_flow", "draft")


def test_json_formatter_writes_one_object_with_the_extra_fields():
    logger = logging.getLogger("telephony.access")
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        __file__,
        1,
        "voice %(status)s",
        ({"status": 200},),
        None,
        extra={"sid": "CA1", "number": "+1415", "flow": "main", "status": 200, "duration_ms": 1.5},
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "voice 200"
    assert data["level"] == "INFO"
    assert {k: data[k] for k in ("sid", "number", "flow", "status", "duration_ms")} == {
        "sid": "CA1",
        "number": "+1415",
        "flow": "main",
        "status": 200,
        "duration_ms": 1.5,
    }
    assert "args" not in data and "msg" not in data
    assert data["time"] == datetime.fromtimestamp(record.created, UTC).isoformat(
        timespec="milliseconds"
    )


@pytest.mark.parametrize("created", [0.0, 1.5, 1700000000.9996, 1800000000.001])
def test_json_timestamps_are_iso_8601_utc_with_milliseconds(created):
    from telephony.json_logging import _timestamp

    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert _timestamp(created) == expected
    assert _timestamp(created) == expected  # and again, from the per-second memo


def test_production_logs_are_json_lines():
    code = (
        "import logging; logging.getLogger('telephony.access')"
        ".info('hello', extra={'sid': 'CA9', 'status': 200})"
    )
    result = manage("shell", "-v", "0", "-c", code, env=full_env())
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "telephony.access",
        "message": "hello",
        "sid": "CA9",
        "status": 200,
    }
