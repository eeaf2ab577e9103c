"""A webhook's form fields, as we store them.

Django parses the form (`request.POST`); `param()` only makes a field's value safe to keep
(telephony/text.py) and cuts it to its column.
"""

from django.http import HttpRequest

from telephony.text import storable


def param(request: HttpRequest, name: str, max_length: int | None = None) -> str:
    """The form field `name` (its last value, as `QueryDict.get`), storable; "" if absent."""
    return storable(request.POST.get(name, ""), max_length)
