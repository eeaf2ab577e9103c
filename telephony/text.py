"""Text from outside (webhooks, uploads) made safe to store in any database column.

PostgreSQL refuses NUL characters outright (psycopg2 raises ValueError before the query is
sent), and a lone surrogate cannot be encoded as UTF-8 at all; Twilio never sends either,
but a forged or broken request must still get its row, not an error. Both are removed,
and a value is cut to the column it goes into.
"""

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str, max_length: int | None = None) -> str:
    """`value` without the characters no database column can hold, cut to `max_length`."""
    if _UNSTORABLE.search(value):
        value = _UNSTORABLE.sub("", value)
    return value[:max_length] if max_length is not None else value


def printable(value: str, max_length: int) -> str:
    """`value` cut to `max_length` characters, anything but printable ASCII escaped: for
    log lines, which no request may make huge or split in two."""
    value = value[:max_length]
    if value.isascii() and value.isprintable():
        return value
    return value.encode("unicode_escape", "backslashreplace").decode("ascii")
