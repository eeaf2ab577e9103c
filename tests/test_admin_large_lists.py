"""The log lists at scale (telephony/admin/large_lists.py): estimated or capped counts,
filters whose choices need no scan, the search by number or SID on indexed columns."""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from telephony.admin import large_lists
from telephony.models import CallFlow, CallLog, MessageLog, Voicemail

pytestmark = pytest.mark.django_db

CALLS = "/admin/telephony/calllog/"
MESSAGES = "/admin/telephony/messagelog/"
VOICEMAILS = "/admin/telephony/voicemail/"
OURS = "+15005550006"


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


@pytest.fixture
def calls(db):
    flow = CallFlow.objects.create(name="Main", slug="main")
    rows = [
        # (caller, status, outcome, error)
        ("+14155551234", "completed", "answered", None),
        ("+14155551234", "completed", "voicemail", None),
        ("+14155559999", "busy", "missed", None),
        ("+16175550100", "failed", "", 31005),
        ("+16175550101", "completed", "abandoned", None),
    ]
    for n, (caller, status, outcome, error) in enumerate(rows):
        CallLog.objects.create(
            sid=f"CA{n:032x}",
            direction="inbound",
            from_number=caller,
            to_number=OURS,
            status=status,
            outcome=outcome,
            error_code=error,
            flow=flow,
        )
    return flow


def listed(response) -> list[str]:
    """The SIDs of the rows on the page."""
    assert response.status_code == 200
    return sorted(set(re.findall(r"CA[0-9a-f]{32}|SM[0-9a-f]{32}", response.content.decode())))


def sids(*numbers, prefix="CA"):
    return sorted(f"{prefix}{n:032x}" for n in numbers)


def paginator_text(response) -> str:
    html = response.content.decode()
    return " ".join(re.search(r'<p class="paginator">(.*?)</p>', html, re.S).group(1).split())


def test_a_small_list_is_counted_exactly(calls, staff):
    response = staff.get(CALLS)
    assert paginator_text(response) == "5 call logs"
    assert response.context["cl"].result_count == 5


def test_a_big_list_is_capped_or_estimated(calls, staff, monkeypatch):
    monkeypatch.setattr(large_lists, "COUNT_CAP", 2)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE telephony_calllog")
        assert paginator_text(staff.get(CALLS)) == "about 5 call logs"
    else:
        assert paginator_text(staff.get(CALLS)) == "more than 2 call logs"
    # Filtered: counted, but never past the cap.
    response = staff.get(CALLS, {"status": "completed"})
    assert paginator_text(response) == "more than 2 call logs"
    assert "more than 2 results" in response.content.decode()
    assert paginator_text(staff.get(CALLS, {"status": "busy"})) == "1 call log"


def test_no_full_count_distinct_or_date_scan(calls, staff):
    with CaptureQueriesContext(connection) as queries:
        assert staff.get(CALLS, {"status": "completed"}).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries if "telephony_calllog" in q["sql"]]
    counts = [s for s in sql if "COUNT(" in s]
    assert counts and all("LIMIT" in s for s in counts)  # capped, never the whole table
    assert not [s for s in sql if "DISTINCT" in s and "error_code" not in s]
    errors = [s for s in sql if "DISTINCT" in s]
    assert all("IS NOT NULL" in s for s in errors)  # the partial index's rows only
    assert not [s for s in sql if "MIN(" in s or "trunc" in s.lower()]  # no date hierarchy
    # One query for the page's rows and their flows (list_select_related), not one a row.
    assert len([s for s in sql if "telephony_callflow" in s and "JOIN" not in s]) <= 1


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"status": "completed"}, [0, 1, 4]),
        ({"status": "busy"}, [2]),
        ({"status": "no-answer"}, []),
        ({"outcome__exact": "voicemail"}, [1]),
        ({"error": "any"}, [3]),
        ({"error": "31005"}, [3]),
        ({"direction__exact": "outbound"}, []),
    ],
)
def test_filters(calls, staff, params, expected):
    assert listed(staff.get(CALLS, params)) == sids(*expected)


def test_filter_choices(calls, staff):
    html = staff.get(CALLS).content.decode()
    assert "?status=no-answer" in html  # Twilio's words, whether or not any row has one
    assert "?error=31005" in html and "?error=any" in html
    assert "?outcome__exact=abandoned" in html


def test_a_bad_filter_value_is_no_500(calls, staff):
    assert staff.get(CALLS, {"error": "x" * 20}).status_code == 200
    assert staff.get(CALLS, {"status": "<script>"}).status_code == 200


@pytest.mark.parametrize(
    "term, expected",
    [
        ("+14155551234", [0, 1]),  # the whole number: exact
        ("(415) 555-1234", [0, 1]),  # as staff type it, read in the default region
        ("+1415", [0, 1, 2]),  # its beginning
        ("617555", [3, 4]),  # the beginning, without the country code
        ("+1 617 555 0101", [4]),
        (OURS, [0, 1, 2, 3, 4]),  # the number called
        (f"CA{3:032x}", [3]),  # a SID
        ("+4420", []),
    ],
)
def test_search_by_number_or_sid(calls, staff, term, expected):
    assert listed(staff.get(CALLS, {"q": term})) == sids(*expected)


def test_search_words_still_search_text(staff):
    for n, body in enumerate(["What are your hours?", "STOP"]):
        MessageLog.objects.create(sid=f"SM{n:032x}", direction="inbound", body=body)
    assert listed(staff.get(MESSAGES, {"q": "hours"})) == sids(0, prefix="SM")
    assert listed(staff.get(MESSAGES, {"q": f"SM{1:032x}"})) == sids(1, prefix="SM")


def test_voicemail_inbox_search_by_caller(staff):
    for n, caller in enumerate(["+14155551234", "+16175550100"]):
        Voicemail.objects.create(recording_sid=f"RE{n:032x}", caller=caller, called=OURS)
    html = staff.get(VOICEMAILS, {"q": "+1617"}).content.decode()
    assert "+16175550100" in html and "+14155551234" not in html
    assert paginator_text(staff.get(VOICEMAILS)) == "2 voicemails"
