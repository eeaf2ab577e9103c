"""Twilio's form-encoded webhook bodies, parsed into the QueryDict Django would build.

Django builds request.POST with `urllib.parse.parse_qsl` and appends every field through
QueryDict's mutable-dict API; for a voice webhook's twenty fields that cost more than our
whole lookup of the flow. `parse_form()` reads the same fields with the same rules as
`parse_qsl(keep_blank_values=True)` (tests/test_formdata.py compares them on awkward and
random bodies), builds the dict of lists directly, and hands the view a read-only QueryDict.
"""

from functools import lru_cache
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def parse_form(body: bytes, encoding: str) -> QueryDict:
    """What `QueryDict(body, encoding=encoding)` returns, for a fraction of its cost."""
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError:
        text = body.decode("iso-8859-1")  # as QueryDict does
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if limit is not None and text and text.count("&") >= limit:  # as parse_qsl counts
        raise TooManyFieldsSent(
            "The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS."
        )
    if "+" in text:  # a space, in names and values alike (never "&" or "=")
        text = text.replace("+", " ")
    lists: dict[str, list[str]] = {}
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")  # no "=": a blank value, as parse_qsl keeps
            if "%" in field:  # most of Twilio's fields need no unquoting at all
                name, value = _unquote(name, encoding), _unquote(value, encoding)
            lists.setdefault(name, []).append(value)
    query = QueryDict(mutable=True, encoding=encoding)
    dict.update(query, lists)  # a MultiValueDict is a dict of lists: what appendlist builds
    query._mutable = False
    return query


def field(form: QueryDict | dict, name: str) -> str:
    """What `form.get(name, "")` gives, read straight from the QueryDict's dict of lists:
    its own get() takes three Python calls, for each of the fields every webhook reads."""
    values = dict.get(form, name)
    return values[-1] if values else ""


@lru_cache(maxsize=4096)
def _unquote_short(text: str, encoding: str) -> str:
    return unquote(text, encoding=encoding)


def _unquote(text: str, encoding: str) -> str:
    """`unquote` as parse_qsl calls it. Short values are remembered: Twilio escapes the "+"
    of every phone number, and sends our own few numbers (To, Called) on every webhook."""
    if "%" not in text:
        return text
    if len(text) <= 32:
        return _unquote_short(text, encoding)
    return unquote(text, encoding=encoding)


def load_form(request: HttpRequest) -> None:
    """Give `request.POST` the parsed form body, as Django would, unless Django must
    handle it (other content types, or POST already read). Oversized bodies raise
    RequestDataTooBig when read, as usual; a charset other than UTF-8 raises BadRequest."""
    if request.method != "POST" or hasattr(request, "_post"):
        return
    if request.content_type != FORM_CONTENT_TYPE:
        return
    if request.encoding is not None and request.encoding.lower() != "utf-8":
        # As Django refuses it, but before anything reads request.POST: Django's DEBUG
        # error page would read it again and turn the 400 into a 500.
        raise BadRequest("Form bodies must be UTF-8 encoded (RFC 1866).")
    request.POST = parse_form(request.body, "utf-8")
    request._files = MultiValueDict()  # as Django's own parse leaves it: no files
