"""Twilio's webhooks: the views, their signature check, access log line and light WSGI handler."""
