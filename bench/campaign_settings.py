"""Settings for bench/campaign_pace.py's task workers: broadcast_settings (the test settings
with the real twilio backend at the bench's fake Twilio), plus the public URL calls need."""

from broadcast_settings import *  # noqa: F403

TELEPHONY_PUBLIC_URL = "https://switchboard.example.com"
