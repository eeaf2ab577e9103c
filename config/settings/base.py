"""Settings shared by every environment, read from the process environment (12-factor).

Every value an operator may change comes from an environment variable through
django-environ; `.env.example` lists them all. Environment modules (local, test,
production) only change defaults, never hard-code secrets.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A `.env` file beside manage.py is read if present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY", default=""
)  # environment modules decide whether a default is allowed
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "phonenumber_field",
    "django_tasks",
    "django_tasks_db",  # always installed, so `migrate` creates its table whichever backend runs
    "telephony",
]

MIDDLEWARE = [
    "telephony.webhooks.access_log.WebhookLogMiddleware",  # first, so its duration covers the rest
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Twilio's webhooks (paths under this prefix, see config/urls.py) run through only these
# middleware: they carry no cookies, sessions or CSRF tokens (telephony/wsgi.py). Nor
# SecurityMiddleware: its headers (HSTS, nosniff, Referrer-Policy, COOP) instruct browsers,
# and Twilio is none; its redirect to https is done better by the signature, which covers
# TELEPHONY_PUBLIC_URL's https scheme: a webhook Twilio sent over plain http is refused.
TELEPHONY_WEBHOOK_PREFIX = "/twilio/"
TELEPHONY_WEBHOOK_MIDDLEWARE = ["telephony.webhooks.access_log.WebhookLogMiddleware"]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Default: a SQLite file in the project, so a fresh clone runs with no set-up.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches. CACHE_URL (or REDIS_URL), e.g. redis://127.0.0.1:6379/0, names a cache shared by
# every worker and machine; without one each worker has its own memory cache. Webhooks keep
# flows and rendered TwiML per worker either way; TELEPHONY_CACHE holds the token that
# invalidates them when staff save (telephony/flowcache.py, README "Deploying"). A
# per-worker cache cannot hold that token, so then it lives in a one-row database table
# (created by `migrate`).
CACHES = {
    "default": env.cache_url_config(
        env("CACHE_URL", default="").strip()
        or env("REDIS_URL", default="").strip()
        or "locmemcache://"
    ),
    "telephony-generation": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "telephony_cache_generation",
    },
}
TELEPHONY_CACHE = "default"
TELEPHONY_CACHE_ENABLED = env.bool("TELEPHONY_CACHE_ENABLED", default=True)
TELEPHONY_CACHE_MAX_ENTRIES = env.int("TELEPHONY_CACHE_MAX_ENTRIES", default=2000)
TELEPHONY_CACHE_RECHECK_SECONDS = env.float("TELEPHONY_CACHE_RECHECK_SECONDS", default=0)
# Read the database-held token only when told it changed (LISTEN/NOTIFY on PostgreSQL, a
# stamp file beside a SQLite file: telephony/cachenotices.py); false reads it every request.
TELEPHONY_CACHE_NOTICES = env.bool("TELEPHONY_CACHE_NOTICES", default=True)
TELEPHONY_CACHE_STAMP_FILE = env("TELEPHONY_CACHE_STAMP_FILE", default="") or None
# Inbound call rows: queued per worker and written in batches a moment later (deferred),
# or inside the voice webhook (immediate). telephony/calllog.py says what deferral trades.
TELEPHONY_CALL_LOG_WRITES = env("TELEPHONY_CALL_LOG_WRITES", default="deferred")
TELEPHONY_CALL_LOG_DELAY = env.float("TELEPHONY_CALL_LOG_DELAY", default=0.1)
TELEPHONY_CALL_LOG_MAX_PENDING = env.int("TELEPHONY_CALL_LOG_MAX_PENDING", default=100_000)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Behind a reverse proxy that sets X-Forwarded-Host/-Proto, trust them so absolute
# URLs (and signature validation without TELEPHONY_PUBLIC_URL) see the public URL.
if env.bool("BEHIND_PROXY", default=False):
    USE_X_FORWARDED_HOST = True
    USE_X_FORWARDED_PORT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Numbers typed without a country code are read in this region, then stored as E.164.
PHONENUMBER_DEFAULT_REGION = env("TELEPHONY_DEFAULT_REGION", default="US")
PHONENUMBER_DB_FORMAT = "E164"

# --- Twilio ---------------------------------------------------------------------------
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
# Tokens still accepted on incoming webhooks while you rotate the Auth Token.
TWILIO_PREVIOUS_AUTH_TOKENS = env.list("TWILIO_PREVIOUS_AUTH_TOKENS", default=[])
# The public base URL Twilio calls (https://switchboard.example.com). Signatures are
# checked against it + the request's path and query, whatever proxies rewrote.
TELEPHONY_PUBLIC_URL = env("TELEPHONY_PUBLIC_URL", default="")
# Switch signature validation off only for local experiments; a system check warns.
TELEPHONY_VALIDATE_SIGNATURES = env.bool("TELEPHONY_VALIDATE_SIGNATURES", default=True)

# --- Sending (README, "Sending SMS and calls") ---------------------------------------------
# twilio | console | locmem, or a dotted path. Empty: twilio when TWILIO_ACCOUNT_SID and
# TWILIO_AUTH_TOKEN are both set, else console (prints, sends nothing).
TELEPHONY_BACKEND = env("TELEPHONY_BACKEND", default="")
# The sender when none is given (blank: our first SMS-/voice-capable number).
TELEPHONY_DEFAULT_FROM = env("TELEPHONY_DEFAULT_FROM", default="")
# Twilio REST calls: seconds to wait for an answer, then retries of 429/5xx with
# exponential backoff and jitter, bounded in attempts and in total seconds.
TELEPHONY_TWILIO_TIMEOUT = env.float("TELEPHONY_TWILIO_TIMEOUT", default=10.0)
TELEPHONY_RETRY_ATTEMPTS = env.int("TELEPHONY_RETRY_ATTEMPTS", default=4)
TELEPHONY_RETRY_BASE_DELAY = env.float("TELEPHONY_RETRY_BASE_DELAY", default=0.5)
TELEPHONY_RETRY_MAX_DELAY = env.float("TELEPHONY_RETRY_MAX_DELAY", default=8.0)
TELEPHONY_RETRY_MAX_SECONDS = env.float("TELEPHONY_RETRY_MAX_SECONDS", default=20.0)
# Another base URL for api.twilio.com (a local fake Twilio in tests, or an API proxy).
TWILIO_API_BASE_URL = env("TWILIO_API_BASE_URL", default="")

# --- Background tasks (README, "Background tasks") -------------------------------------------
# Django's Tasks API (the django-tasks backport). TASKS_BACKEND=database (default): tasks are
# rows in DATABASES["default"], run by `manage.py db_worker`. TASKS_BACKEND=rq: tasks live in
# Redis (REDIS_URL), run by `manage.py rqworker --job-class django_tasks_rq.Job
# --with-scheduler` on as many machines as you like.
TASKS_BACKEND = env("TASKS_BACKEND", default="database")
if TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
elif TASKS_BACKEND == "rq":
    if not env("REDIS_URL", default="").strip():
        raise ImproperlyConfigured("TASKS_BACKEND=rq needs REDIS_URL (redis://host:6379/0).")
    INSTALLED_APPS += ["django_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    # Short socket timeouts (redis-py reads them from the URL): a web worker enqueueing an
    # in-call text must not hang on a dead Redis. RQ's workers raise the read timeout above
    # their blocking pop themselves.
    _redis_url = env("REDIS_URL").strip()
    _timeouts = "socket_connect_timeout=0.5&socket_timeout=1"
    _redis_url += f"{'&' if '?' in _redis_url else '?'}{_timeouts}"
    RQ_QUEUES = {"default": {"URL": _redis_url, "DEFAULT_TIMEOUT": 300}}
else:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be database or rq, not {TASKS_BACKEND!r}.")
# Our retries of a send Twilio answered with 429/5xx (after the twilio backend's own quick
# retries ran out): attempts in all, and the first wait in seconds (doubling, with jitter).
TELEPHONY_TASK_RETRY_ATTEMPTS = env.int("TELEPHONY_TASK_RETRY_ATTEMPTS", default=5)
TELEPHONY_TASK_RETRY_DELAY = env.float("TELEPHONY_TASK_RETRY_DELAY", default=30.0)
TELEPHONY_TASK_RETRY_MAX_DELAY = env.float("TELEPHONY_TASK_RETRY_MAX_DELAY", default=600.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"level": env("DJANGO_LOG_LEVEL", default="WARNING")},
        # twilio logs every request's headers at INFO; our backend logs retries and errors.
        "twilio.http_client": {"level": env("TWILIO_LOG_LEVEL", default="WARNING")},
    },
}
