"""Test settings: fast hashing, fixed tokens, no public URL unless a test sets one."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-only-secret-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TWILIO_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_AUTH_TOKEN = "test-auth-token"
TWILIO_PREVIOUS_AUTH_TOKENS = []
TELEPHONY_PUBLIC_URL = ""
TELEPHONY_VALIDATE_SIGNATURES = True
# Nothing leaves the test run: tests that exercise the twilio backend point it at the
# local fake Twilio (tests/fake_twilio.py) and shrink the retry delays.
TELEPHONY_BACKEND = "locmem"
TELEPHONY_DEFAULT_FROM = ""
TELEPHONY_RETRY_BASE_DELAY = 0.001
TELEPHONY_RETRY_MAX_DELAY = 0.005
TELEPHONY_TWILIO_TIMEOUT = 2.0
TWILIO_API_BASE_URL = ""
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1", "switchboard.example.com"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///:memory:")}
WHITENOISE_AUTOREFRESH = True  # no collectstatic in tests
# Tasks are rows in the test database; a test that needs one to run runs a real worker
# (tests/test_tasks.py: `db_worker --batch` in-process). Retries wait fractions of a second.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
TELEPHONY_TASK_RETRY_DELAY = 0.2
TELEPHONY_TASK_RETRY_MAX_DELAY = 0.4
# Rows in the test's own transaction; tests/test_calllog.py runs the deferred writer.
TELEPHONY_CALL_LOG_WRITES = "immediate"
# Nor a watcher thread: it could not see the test's rows. Requests read FlowsVersion
# themselves (tests/test_flow_cache.py runs the watcher; tests/test_faults.py gunicorn).
TELEPHONY_CACHE_WATCHER = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SITE_URL = "https://switchboard.example.com"
TELEPHONY_TRANSCRIPT_WAIT = 120.0
# Hours steps decide at a fixed time, so that tests walking the demo do not depend on the
# time of day: Wednesday 23 December 2026, 10:00 in Los Angeles (the demo office is open).
# tests/test_schedules.py sets other times.
TELEPHONY_NOW = "2026-12-23T10:00:00-08:00"
