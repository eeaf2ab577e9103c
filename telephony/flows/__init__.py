"""What callers hear: loading flows, rendering them to TwiML, menu matching, the per-worker cache."""
