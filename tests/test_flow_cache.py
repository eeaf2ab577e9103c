"""The flow cache's watcher thread, as production runs it (TELEPHONY_CACHE_WATCHER on).

The other webhook tests read FlowsVersion in the request, since their rows live in the
test's own transaction, which no other thread can see; here every row is committed.
"""

import logging
import time

import pytest
from django.db import OperationalError

from telephony.flows import cache
from telephony.models import FlowsVersion, Step
from tests.conftest import parse_twiml
from tests.factories import make_flow, make_number, publish

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = "+14155550100"


@pytest.fixture
def watcher(settings):
    settings.TELEPHONY_CACHE_WATCHER = True
    settings.TELEPHONY_CACHE_RECHECK_SECONDS = 0.05
    settings.TELEPHONY_CACHE_RETRY_SECONDS = 0.05
    yield cache._watcher
    cache._watcher.stop()  # and its connection: the test database is dropped at the end


def said(twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": NUMBER, "CallSid": "CA1"}))
    return [element.text for element in root.iter("Say")]


def eventually(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_another_workers_publish_reaches_this_one_through_the_watcher(
    watcher, twilio, monkeypatch, caplog
):
    flow = make_flow("f", steps=[{"verb": "say", "text": "Old."}])
    make_number(NUMBER, flow)
    publish()
    assert eventually(lambda: said(twilio) == ["Old."])
    assert watcher.thread.is_alive()
    Step.objects.filter(flow=flow).update(text="New.")
    monkeypatch.setattr(cache, "live_release_changed", lambda number: None)
    caplog.set_level(logging.INFO, logger="telephony.flows.cache")
    publish()  # as another worker would: only the FlowsVersion row says so...
    assert said(twilio) == ["Old."]  # ...so, for a moment, the release held
    assert eventually(lambda: said(twilio) == ["New."])
    # The watcher read the new release before new calls got it: no call waited for that.
    assert any("Release 2 read in" in r.getMessage() for r in caplog.records)


def test_while_the_watcher_gets_no_answer_calls_are_answered_from_memory(
    watcher, twilio, monkeypatch
):
    make_number(NUMBER, make_flow("f", steps=[{"verb": "say", "text": "Hello."}]))
    publish()
    assert eventually(lambda: said(twilio) == ["Hello."])

    def down():
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(FlowsVersion, "current", down)
    assert eventually(lambda: watcher.database_away())
    assert said(twilio) == ["Hello."]  # held: answered without the database
    monkeypatch.undo()
    assert eventually(lambda: not watcher.database_away())


def test_a_new_worker_waits_for_the_first_read_at_most_a_moment(watcher, twilio, monkeypatch):
    make_number(NUMBER, make_flow("f", steps=[{"verb": "say", "text": "Hello."}]))
    publish()
    cache.clear()
    started = time.monotonic()
    assert said(twilio) == ["Hello."]
    assert time.monotonic() - started < cache.FIRST_READ_SECONDS + 0.5
