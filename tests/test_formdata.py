"""telephony/formdata.py builds exactly the QueryDict Django would, and keeps its limits."""

import random

import pytest
from django.core.exceptions import BadRequest, TooManyFieldsSent
from django.http import QueryDict
from django.test import RequestFactory

from telephony.webhooks.formdata import load_form, parse_form

BODIES = [
    b"",
    b"To=%2B15005550006&From=%2B14155551234&CallSid=CA1",
    b"Digits=&SpeechResult=two+please&Confidence=0.9",
    b"MediaUrl0=https%3A%2F%2Fx.example%2Fa%3Fb%3Dc&MediaUrl0=second&Body=caf%C3%A9+%F0%9F%93%9E",
    b"key&=novalue&a=1&a=2&a=1",
    b"Body=%FF%FE+not+utf-8",  # raw bytes that are not UTF-8
    "Body=café".encode("latin-1"),  # not UTF-8: Django falls back to ISO-8859-1
    b"a=1;b=2&c=%zz&d=%2",  # separators and broken escapes, as parse_qsl reads them
    b"&&a+b%2Bc=d%26e%3Df+g&=&==x&%3D=1&+=+",  # empty fields and names, "+" and escapes mixed
    b"From=%2B14155550123&Long=" + b"%41" * 40 + b"&Short=%E2%98%8E",  # either side of the memo
]


@pytest.mark.parametrize("body", BODIES)
def test_parse_form_equals_django_query_dict(body):
    ours, django = parse_form(body, "utf-8"), QueryDict(body, encoding="utf-8")
    assert list(ours.lists()) == list(django.lists())
    assert ours.encoding == django.encoding
    with pytest.raises(AttributeError):  # immutable, like request.POST
        ours["To"] = "x"


def test_parse_form_equals_django_query_dict_on_random_bodies():
    # Bodies from the characters that matter to the parser, built from a fixed seed.
    alphabet = ["a", "B", "=", "&", "+", "%", "2", "B", "F", "%2B", "%C3%A9", "%FF", "é", ";"]
    rng = random.Random(20261123)
    for _ in range(3000):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 24))).encode()
        ours, django = parse_form(body, "utf-8"), QueryDict(body, encoding="utf-8")
        assert list(ours.lists()) == list(django.lists()), body


@pytest.mark.parametrize("fields", [3, 4])
def test_the_field_limit_counts_like_django(settings, fields):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    body = "&".join(f"f{i}=1" for i in range(fields)).encode()
    if fields <= 3:
        assert len(parse_form(body, "utf-8")) == len(QueryDict(body)) == fields
    else:
        for parse in (lambda: parse_form(body, "utf-8"), lambda: QueryDict(body)):
            with pytest.raises(TooManyFieldsSent):
                parse()


def test_no_field_limit_when_django_has_none(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = None
    assert len(parse_form(b"&".join(b"f%d=1" % i for i in range(5000)), "utf-8")) == 5000


def test_too_many_fields_is_refused_like_django(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    with pytest.raises(TooManyFieldsSent):
        parse_form(b"a=1&b=2&c=3&d=4", "utf-8")


def test_load_form_sets_post_for_form_bodies_only():
    factory = RequestFactory()
    form = factory.post("/x/", "To=%2B1&To=%2B2", content_type="application/x-www-form-urlencoded")
    load_form(form)
    assert form.POST.getlist("To") == ["+1", "+2"]
    assert not form.FILES
    multipart = factory.post("/x/", {"To": "+1"})  # multipart: Django parses it
    load_form(multipart)
    assert not hasattr(multipart, "_post")
    assert multipart.POST["To"] == "+1"
    latin = factory.post(
        "/x/", "To=1", content_type="application/x-www-form-urlencoded; charset=latin-1"
    )
    with pytest.raises(BadRequest):  # as Django refuses it
        load_form(latin)


def test_an_oversized_form_body_is_a_400(twilio, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = twilio.client.post(
        "/twilio/voice/", "Body=" + "x" * 500, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("debug", [False, True])
def test_a_form_body_in_another_charset_is_a_plain_400(twilio, settings, debug):
    settings.DEBUG = debug  # Django's DEBUG error page would turn it into a 500
    response = twilio.client.post(
        "/twilio/voice/",
        b"To=%2B1",
        content_type="application/x-www-form-urlencoded; charset=latin-1",
    )
    assert response.status_code == 400
    assert b"UTF-8" in response.content
