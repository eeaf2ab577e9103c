"""Webhooks we could not store, written to the log so that an operator can replay them.

When an inbound message or a status callback cannot be stored (the database is away),
its view answers 5xx, so that Twilio tries the number's Fallback URL, and logs the whole
request at ERROR as one line: `log_for_replay()`. Once the database is back,
`manage.py replay_webhook FILE` finds those lines in a log file (plain or JSON lines,
whatever else the file holds) and posts each request again through the real view.
Every webhook is idempotent on Twilio's SID, so replaying a line twice changes nothing.
"""

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger("telephony.webhooks.replay")

MARKER = "replay with manage.py replay_webhook: "


@dataclass(frozen=True)
class StoredRequest:
    """A webhook request as logged: path, query string and form fields in their order."""

    path: str
    query: str
    params: list[tuple[str, str]]

    def param(self, name: str) -> str:
        return next((value for key, value in reversed(self.params) if key == name), "")


def log_for_replay(request: HttpRequest, reason: str, *, path: str | None = None) -> None:
    """One ERROR line holding everything needed to post `request` again (to `path`, if
    given: the webhook it was meant for)."""
    payload = {
        "path": path or request.path_info,
        "query": request.META.get("QUERY_STRING", ""),
        "params": [[name, value] for name, values in request.POST.lists() for value in values],
    }
    logger.error(
        "Webhook %s not stored (%s); %s%s",
        request.path_info,
        reason,
        MARKER,
        json.dumps(payload, separators=(",", ":")),  # ASCII only: one line, whatever it holds
    )


def stored_requests(lines: Iterable[str]) -> Iterator[tuple[int, StoredRequest]]:
    """(line number, request) for each line of a log that `log_for_replay()` wrote.

    Only requests to our webhooks (paths under TELEPHONY_WEBHOOK_PREFIX) are read."""
    prefix = settings.TELEPHONY_WEBHOOK_PREFIX or "/twilio/"
    for number, line in enumerate(lines, start=1):
        if MARKER not in line:
            continue
        message = line
        if line.lstrip().startswith("{"):  # a JSON log line: the marker is in its message
            try:
                message = json.loads(line)["message"]
            except (ValueError, KeyError, TypeError):
                message = line
        try:
            payload = json.loads(message.split(MARKER, 1)[1])
            if not str(payload["path"]).startswith(prefix):  # only ever our own webhooks
                raise ValueError(payload["path"])
            yield (
                number,
                StoredRequest(
                    path=str(payload["path"]),
                    query=str(payload.get("query", "")),
                    params=[(str(name), str(value)) for name, value in payload["params"]],
                ),
            )
        except (ValueError, KeyError, TypeError, IndexError):
            logger.warning("Line %d holds the replay marker but no request we can read", number)
