"""Voicemail: storing what Twilio tells us of recordings (`recordings`), telling the box's
people (`notices`, a background task), and fetching or deleting the audio (`audio`)."""
