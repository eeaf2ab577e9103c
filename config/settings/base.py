"""Settings shared by every environment, read from the process environment (12-factor).

Every value an operator may change comes from an environment variable through
django-environ; `.env.example` lists them all. Environment modules (local, test,
production) only change defaults, never hard-code secrets.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF
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
    "telephony.apps.SwitchboardAdminConfig",  # django.contrib.admin with our site
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

# MIDDLEWARE does not reach Twilio's webhooks. Paths under this prefix (see config/urls.py)
# run through only TELEPHONY_WEBHOOK_MIDDLEWARE (telephony/webhooks/handler.py): they carry
# no cookies, sessions or CSRF tokens (they are signed instead). Nor SecurityMiddleware:
# its headers (HSTS, nosniff, Referrer-Policy, COOP) instruct browsers, and Twilio is none;
# its redirect to https is done better by the signature, which covers TELEPHONY_PUBLIC_URL's
# https scheme: a webhook Twilio sent over plain http is refused. A middleware you add to
# MIDDLEWARE that webhooks need must go into both lists; system check telephony.W007 names
# any in MIDDLEWARE that is neither in the webhook list nor in the browser-only list below.
TELEPHONY_WEBHOOK_PREFIX = "/twilio/"
TELEPHONY_WEBHOOK_MIDDLEWARE = ["telephony.webhooks.access_log.WebhookLogMiddleware"]
TELEPHONY_BROWSER_ONLY_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every page (below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# The site's stack: the webhook log line first, so its duration covers the rest.
MIDDLEWARE = [*TELEPHONY_WEBHOOK_MIDDLEWARE, *TELEPHONY_BROWSER_ONLY_MIDDLEWARE]

# Content-Security-Policy (django-csp 4; Django 5.2 has no CSP of its own): the browser
# runs only scripts and styles served as files by us, so markup that slipped into a page
# (a flow name, a diagram label) cannot run. Django's admin needs no inline script or
# style (its templates pass data in data- attributes; its JavaScript styles through the
# DOM, which CSP allows), and neither do our pages: their styles are in
# telephony/static/telephony/admin.css, their script in step_fields.js. So no
# 'unsafe-inline', for scripts or for styles. img-src allows data: URIs (small images that
# stylesheets and widgets inline). Not on Twilio's webhooks: they skip MIDDLEWARE
# (telephony/webhooks/handler.py), and Twilio is no browser. With DEBUG on, django-csp
# leaves Django's (inline) 404 and 500 debug pages alone. No nonces or template tags, so
# "csp" need not be an installed app.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],  # as X-Frame-Options: DENY, for browsers that read CSP
    }
}

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
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that is down or unreachable must cost a webhook a second, not minutes: give
    # up connecting after DATABASE_CONNECT_TIMEOUT s, and notice a connection whose packets
    # go unanswered within a second (tcp_user_timeout, in ms), so a caller the worker cannot
    # answer from memory hears the polite goodbye well within 2 s.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=1),
            "tcp_user_timeout": env.int("DATABASE_TCP_USER_TIMEOUT_MS", default=1000),
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            # A query the server cannot finish (a lock held by someone else) is cancelled.
            "options": "-c statement_timeout="
            + str(env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=10_000)),
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Caches. CACHE_URL (or REDIS_URL), e.g. redis://127.0.0.1:6379/0, names a cache shared by
# every worker and machine; without one each worker has its own memory cache. Nothing on a
# call's path or an admin save needs it (flows live in each worker's memory, sessions in
# the database), and a Redis that is down or silent answers within these timeouts.
CACHES = {
    "default": env.cache_url_config(
        env("CACHE_URL", default="").strip()
        or env("REDIS_URL", default="").strip()
        or "locmemcache://"
    ),
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    CACHES["default"].setdefault("OPTIONS", {}).update(
        {
            "socket_connect_timeout": env.float("REDIS_CONNECT_TIMEOUT", default=0.25),
            "socket_timeout": env.float("REDIS_TIMEOUT", default=0.25),
        }
    )

# Each worker keeps flows and rendered TwiML in memory (telephony/flows/cache.py); a thread
# of its own (the watcher) re-reads the database's FlowsVersion this often, so a change
# staff save is live within that many seconds on every worker. While the database does not
# answer, a worker answers calls from memory and asks again every ..._RETRY_SECONDS.
TELEPHONY_CACHE_ENABLED = env.bool("TELEPHONY_CACHE_ENABLED", default=True)
TELEPHONY_CACHE_MAX_ENTRIES = env.int("TELEPHONY_CACHE_MAX_ENTRIES", default=2000)
TELEPHONY_CACHE_RECHECK_SECONDS = env.float("TELEPHONY_CACHE_RECHECK_SECONDS", default=1.0)
TELEPHONY_CACHE_RETRY_SECONDS = env.float("TELEPHONY_CACHE_RETRY_SECONDS", default=5.0)
TELEPHONY_CACHE_WATCHER = env.bool("TELEPHONY_CACHE_WATCHER", default=True)
# Inbound call rows: queued per worker and written in batches a moment later (deferred),
# or inside the voice webhook (immediate). telephony/logs/calls.py says what each costs.
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
# Where staff open the admin, for links in voicemail notices (default: TELEPHONY_PUBLIC_URL).
SITE_URL = env("SITE_URL", default="")
# Voicemail notices wait this long for Twilio's transcript before going out without it.
TELEPHONY_TRANSCRIPT_WAIT = env.float("TELEPHONY_TRANSCRIPT_WAIT", default=120.0)
# Schedules (Hours steps) decide as if it were this time (ISO 8601, e.g.
# 2026-12-23T10:00-05:00): for tests and demos only; blank, the real time. A check warns.
TELEPHONY_NOW = env("TELEPHONY_NOW", default="")
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

# Broadcasts (README, "Broadcasts"): the default Messaging Service and its pace (segments/s),
# the account's ceiling over every sender, how long a claimed recipient may wait before it
# counts as lost to a dead worker, and how many tasks send one broadcast side by side.
TELEPHONY_MESSAGING_SERVICE_SID = env("TELEPHONY_MESSAGING_SERVICE_SID", default="")
TELEPHONY_MESSAGING_SERVICE_RATE = env.float("TELEPHONY_MESSAGING_SERVICE_RATE", default=1.0)
TELEPHONY_ACCOUNT_MAX_RATE = env.float("TELEPHONY_ACCOUNT_MAX_RATE", default=100.0)
# Call campaigns: the account's calls per second (Twilio's CPS, 1 unless Twilio raised it).
TELEPHONY_ACCOUNT_MAX_CALL_RATE = env.float("TELEPHONY_ACCOUNT_MAX_CALL_RATE", default=1.0)
TELEPHONY_BROADCAST_CLAIM_TIMEOUT = env.float("TELEPHONY_BROADCAST_CLAIM_TIMEOUT", default=300.0)
TELEPHONY_BROADCAST_TASKS = env.int("TELEPHONY_BROADCAST_TASKS", default=1)
TELEPHONY_BROADCAST_TASK_SECONDS = env.float("TELEPHONY_BROADCAST_TASK_SECONDS", default=30.0)
# After Twilio reports a sender's queue full (21611, 30001): how long it sends at half pace.
TELEPHONY_SLOW_DOWN_SECONDS = env.float("TELEPHONY_SLOW_DOWN_SECONDS", default=600.0)

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

# Email (voicemail notices). Django's own settings; SMTP unless EMAIL_BACKEND says otherwise.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="switchboard@localhost")
