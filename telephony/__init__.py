"""Switchboard's telephony app: call flows in the admin, served to Twilio as TwiML."""
