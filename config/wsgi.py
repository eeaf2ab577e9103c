"""WSGI entry point for gunicorn; production settings unless told otherwise.

Twilio's webhooks are served through fewer middleware than the admin
(telephony/webhooks/handler.py).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from telephony.webhooks.handler import build_application  # noqa: E402

application = build_application()
