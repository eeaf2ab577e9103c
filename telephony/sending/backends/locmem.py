"""Keeps what would be sent in memory, for tests: like django.core.mail's locmem backend.

Sent messages and calls are appended to the module-level `outbox`; `incoming` and
`caller_ids` are what the "account" owns (tests fill them to exercise number syncing),
and `configured` records every configure_number() call, `deleted_recordings` every
delete_recording().
"""

import uuid

from telephony.sending.backends.base import (
    AccountNumber,
    BaseTelephonyBackend,
    NumberWebhooks,
    OutboundCall,
    OutboundSms,
    Sent,
)

outbox: list[OutboundSms | OutboundCall] = []
incoming: list[AccountNumber] = []
caller_ids: list[AccountNumber] = []
configured: list[tuple[str, NumberWebhooks]] = []
deleted_recordings: list[str] = []


def reset() -> None:
    for store in (outbox, incoming, caller_ids, configured, deleted_recordings):
        store.clear()


class TelephonyBackend(BaseTelephonyBackend):
    name = "locmem"

    def send_sms(self, message: OutboundSms) -> Sent:
        outbox.append(message)
        return Sent(sid="SM" + uuid.uuid4().hex, status="queued")

    def make_call(self, call: OutboundCall) -> Sent:
        outbox.append(call)
        return Sent(sid="CA" + uuid.uuid4().hex, status="queued")

    def incoming_numbers(self) -> list[AccountNumber]:
        return list(incoming)

    def outgoing_caller_ids(self) -> list[AccountNumber]:
        return list(caller_ids)

    def configure_number(self, sid: str, webhooks: NumberWebhooks) -> None:
        configured.append((sid, webhooks))

    def delete_recording(self, sid: str) -> None:
        deleted_recordings.append(sid)
