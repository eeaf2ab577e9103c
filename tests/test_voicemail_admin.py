"""The voicemail inbox: who sees which box, the stream view (host check, Range), deleting
at Twilio, opening/playing marks heard, and its pages under the CSP."""

import socket

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from telephony.models import Voicemail, VoicemailBox
from tests.fake_twilio import API, make_wav
from tests.test_csp import POLICY, directives, inline_code

pytestmark = pytest.mark.django_db


def sid(n: int) -> str:
    return "RE" + f"{n:032x}"


def make_voicemail(box, n=1, *, url="", **fields) -> Voicemail:
    defaults = {
        "caller": f"+1415555{n:04d}",
        "called": "+15005550006",
        "duration": 7,
        "transcript": f"message number {n}",
        "recording_url": url or f"https://api.twilio.com{API}/Recordings/{sid(n)}",
    }
    return Voicemail.objects.create(box=box, recording_sid=sid(n), **{**defaults, **fields})


def staff(username, *groups) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.groups.add(*groups)
    return user


@pytest.fixture
def boxes():
    front = VoicemailBox.objects.create(name="Front desk")
    sales = VoicemailBox.objects.create(name="Sales")
    return front, sales


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("root", password="pw")
    client.login(username="root", password="pw")
    return client


CHANGELIST = "/admin/telephony/voicemail/"


def audio_url(voicemail):
    return reverse("admin:telephony_voicemail_audio", args=[voicemail.pk])


# --- who sees what ----------------------------------------------------------------------------


def test_staff_see_only_the_boxes_they_may_listen_to(client, boxes):
    front, sales = boxes
    desk_group = Group.objects.create(name="Sales team")
    sales.listener_groups.add(desk_group)
    ann = staff("ann")
    front.listeners.add(ann)
    bob = staff("bob", desk_group)
    eve = staff("eve")
    in_front = make_voicemail(front, 1)
    in_sales = make_voicemail(sales, 2)
    unboxed = make_voicemail(None, 3)

    for user, visible, hidden in [
        (ann, in_front, [in_sales, unboxed]),
        (bob, in_sales, [in_front, unboxed]),
    ]:
        client.force_login(user)
        page = client.get(CHANGELIST)
        assert page.status_code == 200
        html = page.content.decode()
        assert visible.caller in html
        for other in hidden:
            assert other.caller not in html
            assert client.get(audio_url(other)).status_code == 404
            assert client.get(f"{CHANGELIST}{other.pk}/change/").status_code in (302, 403, 404)
        # The box filter offers only their box.
        assert (
            "Sales" not in html
            if user is ann
            else "Front desk" not in html.split("By box")[-1][:400]
        )

    client.force_login(eve)  # staff, but listens to no box
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(audio_url(in_front)).status_code in (403, 404)


def test_superusers_see_every_box_and_unboxed_messages_and_new_come_first(admin_client, boxes):
    front, sales = boxes
    heard = make_voicemail(front, 1, state=Voicemail.State.HEARD)
    new = make_voicemail(sales, 2)  # created later, but also...
    old_new = make_voicemail(None, 3)
    Voicemail.objects.filter(pk=old_new.pk).update(created_at=heard.created_at.replace(year=2020))
    html = admin_client.get(CHANGELIST).content.decode()
    positions = [html.index(v.caller) for v in (new, old_new, heard)]
    assert positions == sorted(positions)  # unread first, then newest


def test_filters_and_search(admin_client, boxes):
    front, sales = boxes
    make_voicemail(front, 1, transcript="please call about the invoice")
    make_voicemail(sales, 2, called="+15005550007")
    html = admin_client.get(CHANGELIST, {"q": "invoice"}).content.decode()
    assert "+14155550001" in html and "+14155550002" not in html
    html = admin_client.get(CHANGELIST, {"q": "+14155550002"}).content.decode()
    assert "+14155550002" in html and "+14155550001" not in html
    html = admin_client.get(CHANGELIST, {"box__id__exact": sales.pk}).content.decode()
    assert "+14155550002" in html and "+14155550001" not in html
    html = admin_client.get(CHANGELIST, {"called": "+15005550007"}).content.decode()
    assert "+14155550002" in html and "+14155550001" not in html
    html = admin_client.get(CHANGELIST, {"state__exact": "heard"}).content.decode()
    assert "+14155550002" not in html


def test_opening_a_message_marks_it_heard_and_archive_action(admin_client, boxes):
    front, _ = boxes
    voicemail = make_voicemail(front, 1)
    page = admin_client.get(f"{CHANGELIST}{voicemail.pk}/change/")
    assert page.status_code == 200
    assert f'src="{audio_url(voicemail)}"' in page.content.decode()
    voicemail.refresh_from_db()
    assert voicemail.state == Voicemail.State.HEARD
    admin_client.post(CHANGELIST, {"action": "archive", "_selected_action": [voicemail.pk]})
    voicemail.refresh_from_db()
    assert voicemail.state == Voicemail.State.ARCHIVED


# --- the stream -----------------------------------------------------------------------------


def test_the_stream_serves_the_wav_with_our_credentials_and_marks_heard(
    admin_client, boxes, fake_twilio
):
    url = fake_twilio.add_recording(sid(1), seconds=0.5)
    voicemail = make_voicemail(boxes[0], 1, url=url)
    response = admin_client.get(audio_url(voicemail))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    body = b"".join(response.streaming_content)
    assert body == make_wav(0.5) and body[:4] == b"RIFF"
    assert response["Content-Length"] == str(len(body))
    assert response["Accept-Ranges"] == "bytes"
    [request] = fake_twilio.received
    assert request.path == f"{API}/Recordings/{sid(1)}.wav"
    assert request.auth == ("AC" + "0" * 32, "test-auth-token")
    for value in response.headers.values():  # nothing of Twilio reaches the browser
        assert (
            "twilio" not in value.lower()
            and "test-auth-token" not in value
            and "127.0.0.1" not in value
        )
    voicemail.refresh_from_db()
    assert voicemail.state == Voicemail.State.HEARD


def test_the_stream_passes_range_requests_for_seeking(admin_client, boxes, fake_twilio):
    url = fake_twilio.add_recording(sid(1))
    voicemail = make_voicemail(boxes[0], 1, url=url)
    whole = make_wav(1.0)
    response = admin_client.get(audio_url(voicemail), HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert b"".join(response.streaming_content) == whole[100:200]
    response = admin_client.get(audio_url(voicemail), HTTP_RANGE="bytes=44-")
    assert response.status_code == 206 and b"".join(response.streaming_content) == whole[44:]
    assert fake_twilio.received[-1].headers.get("Range") == "bytes=44-"


@pytest.fixture
def listener():
    """A socket no one should ever connect to; yields (host:port, accepted?)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.3)

    def connected() -> bool:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            return False
        conn.close()
        return True

    yield f"127.0.0.1:{server.getsockname()[1]}", connected
    server.close()


@pytest.mark.parametrize(
    "template",
    [
        "http://{other}" + API + "/Recordings/{sid}",  # another host (port)
        "https://{other}" + API + "/Recordings/{sid}",
        "{base}"
        + API.replace("AC" + "0" * 32, "AC" + "1" * 32)
        + "/Recordings/{sid}",  # another account
        "{base}/2010-04-01/Accounts/" + "AC" + "0" * 32 + "/Calls/{sid}",  # not a recording
        "{base}" + API + "/Recordings/{sid}?redirect=http://{other}/",
        "http://user:pw@{other}" + API + "/Recordings/{sid}",
        "",
    ],
)
def test_the_stream_fetches_only_from_twilios_api_host(
    admin_client, boxes, fake_twilio, listener, template
):
    other, connected = listener
    fake_twilio.add_recording(sid(1))
    url = template.format(other=other, base=fake_twilio.url, sid=sid(1))
    voicemail = make_voicemail(boxes[0], 1, url=url) if url else make_voicemail(boxes[0], 1)
    if not url:
        Voicemail.objects.filter(pk=voicemail.pk).update(recording_url="")
    response = admin_client.get(audio_url(voicemail))
    assert response.status_code == 403
    assert fake_twilio.received == []  # no request made to Twilio either
    assert not connected()  # and no socket opened to the other host
    assert other not in response.content.decode()


def test_without_twilio_api_base_url_only_api_twilio_com_is_allowed(settings):
    from telephony.voicemail import audio

    settings.TWILIO_API_BASE_URL = ""
    good = f"https://api.twilio.com{API}/Recordings/{sid(1)}"
    assert audio.media_url(good) == good + ".wav"
    assert audio.media_url(good + ".mp3") == good + ".mp3"
    for bad in (
        f"http://api.twilio.com{API}/Recordings/{sid(1)}",
        f"https://api.twilio.com.evil.example{API}/Recordings/{sid(1)}",
        f"https://evil.example{API}/Recordings/{sid(1)}",
        f"https://api.twilio.com:8443{API}/Recordings/{sid(1)}",
    ):
        with pytest.raises(audio.RecordingRefused):
            audio.media_url(bad)


def test_a_recording_twilio_no_longer_has_is_a_clear_502(admin_client, boxes, fake_twilio):
    voicemail = make_voicemail(boxes[0], 1, url=f"{fake_twilio.url}{API}/Recordings/{sid(1)}")
    response = admin_client.get(audio_url(voicemail))
    assert response.status_code == 502
    assert b"HTTP 404" in response.content and fake_twilio.url.encode() not in response.content


# --- deleting at Twilio ---------------------------------------------------------------------------


def test_delete_deletes_at_twilio_then_here(admin_client, boxes, fake_twilio):
    url = fake_twilio.add_recording(sid(1))
    voicemail = make_voicemail(boxes[0], 1, url=url)
    response = admin_client.post(f"{CHANGELIST}{voicemail.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Voicemail.objects.exists()
    [request] = fake_twilio.received
    assert (request.method, request.path) == ("DELETE", f"{API}/Recordings/{sid(1)}.json")
    assert sid(1) not in fake_twilio.recordings


def test_a_recording_already_gone_at_twilio_is_deleted_here(admin_client, boxes, fake_twilio):
    voicemail = make_voicemail(boxes[0], 1)
    admin_client.post(f"{CHANGELIST}{voicemail.pk}/delete/", {"post": "yes"})
    assert not Voicemail.objects.exists()


def test_a_refused_delete_keeps_the_row_and_says_why(admin_client, boxes, fake_twilio):
    url = fake_twilio.add_recording(sid(1))
    voicemail = make_voicemail(boxes[0], 1, url=url)
    other = make_voicemail(boxes[0], 2, url=fake_twilio.add_recording(sid(2)))
    fake_twilio.fail_next(400, 20001, "Recording is in use", path_contains=sid(1))
    response = admin_client.post(
        f"{CHANGELIST}{voicemail.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert Voicemail.objects.filter(pk=voicemail.pk).exists()
    html = response.content.decode()
    assert "could not be deleted at Twilio" in html and "Recording is in use" in html
    # The bulk action deletes what Twilio let go of and keeps the rest.
    fake_twilio.fail_next(400, 20001, "Recording is in use", path_contains=sid(1))
    admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [voicemail.pk, other.pk], "post": "yes"},
    )
    assert list(Voicemail.objects.values_list("pk", flat=True)) == [voicemail.pk]


def test_listeners_without_the_delete_permission_cannot_delete(client, boxes):
    ann = staff("ann")
    boxes[0].listeners.add(ann)
    voicemail = make_voicemail(boxes[0], 1)
    client.force_login(ann)
    assert client.post(f"{CHANGELIST}{voicemail.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Voicemail.objects.exists()


def test_the_locmem_and_console_backends_delete_recordings(capsys):
    from telephony.sending.backends import get_backend, locmem

    get_backend("locmem").delete_recording(sid(1))
    assert locmem.deleted_recordings == [sid(1)]
    get_backend("console").delete_recording(sid(2))
    assert sid(2) in capsys.readouterr().out


# --- the CSP ------------------------------------------------------------------------------------


def test_the_inbox_pages_pass_the_csp(admin_client, boxes):
    voicemail = make_voicemail(boxes[0], 1)
    for url in (
        CHANGELIST,
        f"{CHANGELIST}{voicemail.pk}/change/",
        "/admin/telephony/voicemailbox/",
        f"/admin/telephony/voicemailbox/{boxes[0].pk}/change/",
        "/admin/telephony/voicemailbox/add/",
        f"{CHANGELIST}{voicemail.pk}/delete/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        policy = directives(response["Content-Security-Policy"])
        for name, sources in POLICY.items():
            assert policy[name] == sources, (url, name)
        assert inline_code(response.content.decode()) == [], url


# --- pruning ---------------------------------------------------------------------------------


def test_prune_deletes_old_voicemails_here_and_at_twilio_and_keeps_refused_ones(boxes, fake_twilio):
    import io
    from datetime import timedelta

    from django.core.management import CommandError, call_command
    from django.utils import timezone

    old, older, recent = (
        make_voicemail(boxes[0], n, url=fake_twilio.add_recording(sid(n))) for n in (1, 2, 3)
    )
    Voicemail.objects.filter(pk__in=[old.pk, older.pk]).update(
        created_at=timezone.now() - timedelta(days=91)
    )
    out = io.StringIO()
    call_command("prune_voicemails", "--older-than", "90d", "--dry-run", stdout=out)
    assert "2 voicemail(s) older than 90d would be deleted" in out.getvalue()
    assert Voicemail.objects.count() == 3 and fake_twilio.received == []
    fake_twilio.fail_next(400, 20001, "Recording is in use", path_contains=sid(2))
    with pytest.raises(CommandError, match="1 voicemail"):
        call_command(
            "prune_voicemails", "--older-than", "90d", stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert sorted(Voicemail.objects.values_list("pk", flat=True)) == [older.pk, recent.pk]
    assert sid(1) not in fake_twilio.recordings and sid(3) in fake_twilio.recordings
    call_command("prune_voicemails", "--older-than", "90d", stdout=io.StringIO())  # a retry
    assert list(Voicemail.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.parametrize("age", ["0d", "ninety", "-3d", "90m"])
def test_prune_refuses_an_age_it_cannot_read(db, age):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="give an age such as 90d"):
        call_command("prune_voicemails", f"--older-than={age}")
