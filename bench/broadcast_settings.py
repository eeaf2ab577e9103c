"""Settings for bench/broadcast_pace.py's task workers: the test settings, but the real
twilio backend pointed at the bench's fake Twilio, and the database it names."""

import os

from config.settings.test import *  # noqa: F403

TELEPHONY_BACKEND = "twilio"
TWILIO_API_BASE_URL = os.environ["TWILIO_API_BASE_URL"]
TELEPHONY_TWILIO_TIMEOUT = 5.0
CONN_MAX_AGE = 60
