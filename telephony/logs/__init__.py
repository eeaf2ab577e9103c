"""Call and message logs as Twilio's webhooks fill them: inbound call rows, status callbacks."""
