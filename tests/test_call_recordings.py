"""Call recordings: a Dial step with record on asks for a recording callback; the
recording lands on the call's log row and plays there through our stream."""

import pytest
from django.contrib.auth.models import User

from telephony.models import CallLog, Direction
from tests.conftest import parse_twiml
from tests.factories import make_flow, make_number, publish, step_path

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
RECORDING = "RE" + "d" * 32


@pytest.fixture
def recorded(db):
    flow = make_flow(
        "sales", steps=[{"verb": "dial", "dial_target": "+14155550100", "record": True}]
    )
    make_number(DEMO, flow)
    publish()
    return flow


def test_a_recorded_dial_asks_for_the_recording(recorded, twilio):
    root = parse_twiml(twilio.post("/twilio/voice/", {"To": DEMO, "CallSid": "CA1"}))
    dial = root.find("Dial")
    assert dial.get("record") == "record-from-answer"
    assert dial.get("recordingStatusCallback") == step_path("sales", "dial", "dial/recording")
    assert dial.get("recordingStatusCallbackEvent") == "completed"


@pytest.mark.parametrize("row_first", [True, False])
def test_the_recording_lands_on_the_call_log_whenever_the_row_is_written(
    recorded, twilio, row_first
):
    if row_first:
        CallLog.objects.create(sid="CA1", direction=Direction.INBOUND, to_number=DEMO)
    params = {
        "CallSid": "CA1",
        "From": "+14155551234",
        "To": DEMO,
        "RecordingSid": RECORDING,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{RECORDING}",
        "RecordingStatus": "completed",
        "RecordingDuration": "42",
    }
    for _retry in range(2):
        assert twilio.post(step_path("sales", "dial", "dial/recording"), params).status_code == 200
    log = CallLog.objects.get(sid="CA1")
    assert (log.recording_sid, log.recording_duration) == (RECORDING, 42)
    assert log.recording_url.endswith(RECORDING)


def test_the_call_log_page_plays_the_recording_from_twilio(recorded, client, fake_twilio):
    url = fake_twilio.add_recording(RECORDING)
    log = CallLog.objects.create(
        sid="CA1", direction=Direction.INBOUND, recording_sid=RECORDING, recording_url=url
    )
    User.objects.create_superuser("root", password="pw")
    client.login(username="root", password="pw")
    page = client.get(f"/admin/telephony/calllog/{log.pk}/change/").content.decode()
    stream = f"/admin/telephony/calllog/{log.pk}/recording/"
    assert f'<audio class="voicemail-player" controls preload="none" src="{stream}">' in page
    response = client.get(stream)
    assert response.status_code == 200 and response["Content-Type"].startswith("audio/")
    assert b"".join(response.streaming_content)[:4] == b"RIFF"
    assert client.get(f"/admin/telephony/calllog/{log.pk + 99}/recording/").status_code == 404
