"""Twilio's documented limits, shared by the models that hold what callers hear or read."""

SAY_MAX_CHARS = 4096
SMS_MAX_CHARS = 1600
DTMF_KEYS = "0123456789*#"
