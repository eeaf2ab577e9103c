"""Prints what would be sent instead of sending it: the default without Twilio credentials.

Like django.core.mail's console backend. Every message or call gets a made-up SID (so the
log rows look like real ones) and the status "queued"; nothing leaves the machine.
"""

import sys
import threading
import uuid

from telephony.sending.backends.base import BaseTelephonyBackend, OutboundCall, OutboundSms, Sent


class TelephonyBackend(BaseTelephonyBackend):
    name = "console"

    def __init__(self, *, stream=None, **options):
        super().__init__(**options)
        self.stream = stream
        self._lock = threading.RLock()

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout  # looked up late so tests can capture stdout
        with self._lock:
            stream.write(text)
            stream.write("-" * 79 + "\n")
            stream.flush()

    def send_sms(self, message: OutboundSms) -> Sent:
        sid = "SM" + uuid.uuid4().hex
        media = "".join(f"Media: {url}\n" for url in message.media_urls)
        self._write(
            f"SMS {sid} (console backend: not sent)\n"
            f"From: {message.from_ or message.messaging_service_sid}\nTo: {message.to}\n{media}\n{message.body}\n"
        )
        return Sent(sid=sid, status="queued")

    def make_call(self, call: OutboundCall) -> Sent:
        sid = "CA" + uuid.uuid4().hex
        self._write(
            f"Call {sid} (console backend: not placed)\n"
            f"From: {call.from_}\nTo: {call.to}\nTwiML URL: {call.url}\n"
            f"Status callback: {call.status_callback or '-'}\n"
        )
        return Sent(sid=sid, status="queued")

    def delete_recording(self, sid: str) -> None:
        self._write(f"Delete recording {sid} (console backend: nothing deleted at Twilio)\n")
