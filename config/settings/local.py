"""Local development: DEBUG on, SQLite by default, a throwaway secret key.

The webhook auth token defaults to a documented local value so a newcomer can sign
requests to the demo number (README, "Try the webhook") without a Twilio account.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="local-development-only-not-secret")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="local-dev-auth-token")
# Voicemail notices are printed by the task worker (make run), not sent.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
