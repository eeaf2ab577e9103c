"""Gunicorn settings, from the environment: `gunicorn -c config/gunicorn.conf.py`.

Sync workers by default: a webhook is a short request answered from memory (see
telephony/flows/cache.py), so one request per process at a time is simplest and fastest;
set GUNICORN_THREADS > 1 for gthread workers when requests wait on a slow database.
Twilio gives up on a webhook after 15 s, so a worker stuck longer than that is killed.
"""

import multiprocessing
import os
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
threads = _int("GUNICORN_THREADS", 1)
timeout = _int("GUNICORN_TIMEOUT", 14)  # under Twilio's 15 s, so the fallback URL can answer
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then, so a slow leak can never grow without bound. Not too
# often: a worker answers ~1,000 webhooks a second, and each restart re-imports Django.
max_requests = _int("GUNICORN_MAX_REQUESTS", 100000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 10000)
backlog = _int("GUNICORN_BACKLOG", 2048)
# Proxies whose X-Forwarded-* headers gunicorn trusts (comma-separated IPs, or *).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Django logs one JSON line per webhook; gunicorn's own access log is off unless asked
# for (GUNICORN_ACCESS_LOG=- writes it to stdout).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The workers' heartbeat files on tmpfs: a slow disk cannot make healthy workers look dead.
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"
