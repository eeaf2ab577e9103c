"""One JSON object per log line, for production log collectors.

Every `extra=` field a caller passes becomes a key of its own (the webhook log line's
sid, number, flow, status, duration_ms), so collectors can filter on them without
parsing messages.
"""

import json
import logging
from datetime import UTC, datetime

# What every LogRecord carries; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)
