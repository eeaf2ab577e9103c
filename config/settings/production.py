"""Production: secrets from the environment with no defaults, hardened HTTP, JSON logs.

Start-up fails with one message naming every required variable that is missing. With the
variables documented in README "Deploying" (and `.env.example`), `manage.py check
--deploy` is clean. Every HTTPS hardening is on by default and can be relaxed by
environment variable (e.g. for a load test over plain HTTP on loopback).
"""

import logging

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, LOGGING, STORAGES, env

# No defaults: a deployment that forgets one of these must not start.
REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "TWILIO_AUTH_TOKEN")
REQUIRED += ("TELEPHONY_PUBLIC_URL",)
_missing = [name for name in REQUIRED if not env(name, default="").strip()]
if _missing:
    raise ImproperlyConfigured(
        f"Set the {', '.join(_missing)} environment variable{'s' * (len(_missing) > 1)} "
        "for production (see README, 'Deploying', and .env.example)."
    )

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS ---------------------------------------------------------------------------------
# The proxy header (X-Forwarded-Proto) is trusted only with BEHIND_PROXY=true (base.py):
# without a proxy in front, any client could claim https.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# --- Database: persistent connections, checked before reuse --------------------------------
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)

# --- SQLite (a single machine): write-ahead log, so readers never wait for the writer and a
# commit appends to one file; IMMEDIATE takes the write lock up front, so concurrent writers
# queue (up to `timeout` s) instead of failing with "database is locked".
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; "
                f"PRAGMA synchronous={env('SQLITE_SYNCHRONOUS', default='FULL')};"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )

# --- Static files: collectstatic, then whitenoise serves them compressed, forever-cached ----
STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"

# --- Logging: JSON lines on stderr (LOG_FORMAT=plain for humans) ---------------------------
LOGGING["formatters"]["json"] = {"()": "telephony.json_logging.JsonFormatter"}
LOG_FORMAT = env("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# No format here or in gunicorn's prints thread or multiprocessing names: not collecting
# them makes every webhook's log line cheaper (Python's logging HOWTO, "Optimization").
# (gunicorn's own lines print %(process)d, so that one stays.)
logging.logThreads = logging.logMultiprocessing = False
# One line per webhook (telephony/webhooks/access_log.py); WEBHOOK_LOG_LEVEL=WARNING silences them.
LOGGING.setdefault("loggers", {})["telephony.access"] = {
    "level": env("WEBHOOK_LOG_LEVEL", default="INFO")
}
