"""Releases in the real admin, through Django's test client: the Publish changes page,
the release list and pages (roll back, reset the draft), discarding draft changes, the
draft notice, test callers, and flows that cannot be deleted while something uses them.

Every test asserts what the page shows and which rows exist afterwards."""

import html as html_module
import re

import pytest
from django.contrib.auth.models import Permission, User

from telephony.models import (
    CallFlow,
    FlowsVersion,
    MenuOption,
    PhoneNumber,
    Release,
    Step,
    TestCaller,
)
from telephony.releases import publishing
from tests.factories import make_flow, make_number
from tests.test_csp import POLICY, directives, inline_code

pytestmark = pytest.mark.django_db

PUBLISH = "/admin/telephony/release/publish/"
DISCARD = "/admin/telephony/release/discard/"
RELEASES = "/admin/telephony/release/"
GREETING = "Thank you for calling the Switchboard demo."


def release_url(release, action="change"):
    return f"/admin/telephony/release/{release.pk}/{action}/"


def flow_url(flow, action="change"):
    return f"/admin/telephony/callflow/{flow.pk}/{action}/"


def text(response) -> str:
    """The page's visible text, tags dropped and spaces collapsed (entities decoded)."""
    body = response.content.decode()
    body = re.sub(r"<svg.*?</svg>", " ", body, flags=re.S)
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def hidden(response, name) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    assert match, f"no hidden {name}"
    return match.group(1)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def live() -> int | None:
    return FlowsVersion.current()[1]


def edit_greeting(new_text="Welcome to the new Switchboard."):
    step = Step.objects.get(flow__slug="main-menu", position=1)
    step.text = new_text
    step.save()
    return step


def greeting() -> str:
    return Step.objects.get(flow__slug="main-menu", position=1).text


@pytest.fixture
def published(demo):
    """The demo, published as release 1 (the demo fixture itself publishes nothing)."""
    return publishing.publish(note="The demo").release


def staff_with(client, *codenames):
    user = User.objects.create_user("dana", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(User.objects.get(pk=user.pk))
    return user


# --- the Publish changes page ---------------------------------------------------------------


def test_publish_page_shows_the_changes_and_publishing_makes_release_2_live(
    published, admin_client, admin_user
):
    edit_greeting()
    page = admin_client.get(PUBLISH)
    assert page.status_code == 200
    shown = text(page)
    assert "Callers and texters get the live release : release 1" in shown
    assert (
        f'Flow "Main menu": step 1 (Say) text "{GREETING}" -> "Welcome to the new Switchboard."'
        in shown
    )
    assert hidden(page, "expected_live") == "1"
    assert 'name="note"' in page.content.decode()
    assert "Errors" not in shown

    response = admin_client.post(
        PUBLISH, {"note": "New greeting", "expected_live": "1"}, follow=True
    )
    release = Release.objects.get(number=2)
    assert response.redirect_chain == [(release_url(release), 302)]
    assert live() == 2
    assert release.note == "New greeting"
    assert release.author == admin_user
    assert any(m.startswith("Published release 2") for m in messages_of(response))
    # The new release's page: its note and the change from release 1.
    shown = text(response)
    assert "New greeting" in shown
    assert 'step 1 (Say) text "Thank you for calling the Switchboard demo." ->' in shown
    assert "From release 1 to release 2" in shown
    # Nothing left to publish: the page says so and offers no button.
    again = admin_client.get(PUBLISH)
    assert "None: the draft is release 2, which is live. Nothing to publish." in text(again)
    assert 'value="Publish changes" disabled' in again.content.decode()


def test_first_publish_when_nothing_is_live(demo, admin_client):
    page = admin_client.get(PUBLISH)
    assert "nothing is published yet" in text(page)
    assert hidden(page, "expected_live") == "none"
    assert 'Flow "Main menu" added' in text(page)
    admin_client.post(PUBLISH, {"note": "First", "expected_live": "none"})
    assert list(Release.objects.values_list("number", flat=True)) == [1]
    assert live() == 1


def test_publishing_is_blocked_by_a_redirect_loop_which_is_listed(published, admin_client):
    ping = make_flow("ping", steps=[{"verb": "say", "text": "Ping"}])
    pong = make_flow("pong", steps=[{"verb": "redirect", "next_flow": ping}])
    Step.objects.create(flow=ping, position=2, verb="redirect", next_flow=pong)
    make_number("+14155550111", ping)

    page = admin_client.get(PUBLISH)
    errors = page.content.decode().split('id="check-errors"')[1].split("</ul>")[0]
    assert "loop" in errors.lower()
    assert f'href="{flow_url(ping)}"' in errors  # a link to fix it
    assert "publishing is blocked until they are fixed" in text(page)
    assert 'value="Publish changes" disabled' in page.content.decode()

    response = admin_client.post(PUBLISH, {"note": "Loop", "expected_live": "1"})
    assert response.status_code == 200  # the page again, nothing published
    assert list(Release.objects.values_list("number", flat=True)) == [1]
    assert live() == 1
    assert any("the flow checks found 1 error(s)" in m for m in messages_of(response))
    assert "loop" in response.content.decode().split('id="check-errors"')[1].lower()


def test_warnings_are_shown_and_do_not_block(published, admin_client):
    make_flow("lonely", steps=[{"verb": "hangup"}])  # nothing leads to it: a warning
    page = admin_client.get(PUBLISH)
    warnings = page.content.decode().split('id="check-warnings"')[1].split("</ul>")[0]
    assert "flow lonely" in warnings
    assert 'id="check-errors"' not in page.content.decode()
    assert 'value="Publish changes">' in page.content.decode()  # enabled

    response = admin_client.post(PUBLISH, {"note": "Lonely", "expected_live": "1"})
    assert response.status_code == 302
    assert live() == 2


def test_a_stale_page_is_refused_when_someone_else_published_meanwhile(published, admin_client):
    edit_greeting("Mine")
    page = admin_client.get(PUBLISH)
    assert hidden(page, "expected_live") == "1"
    # A colleague publishes (from another tab, or a shell) before this page is posted.
    publishing.publish(note="Theirs")
    edit_greeting("Mine, changed again")

    response = admin_client.post(PUBLISH, {"note": "Mine", "expected_live": "1"})
    assert response.status_code == 200
    assert list(Release.objects.order_by("number").values_list("note", flat=True)) == [
        "The demo",
        "Theirs",
    ]
    assert live() == 2
    shown = messages_of(response)
    assert any("someone else published meanwhile (release 2 is live now)" in m for m in shown)
    # The page again, with the changes against release 2 and the note kept.
    assert hidden(response, "expected_live") == "2"
    assert 'step 1 (Say) text "Mine" -> "Mine, changed again"' in text(response)
    assert ">Mine</textarea>" in response.content.decode()


def test_a_post_that_does_not_say_which_release_was_reviewed_publishes_nothing(
    published, admin_client
):
    edit_greeting()
    response = admin_client.post(PUBLISH, {"note": "Blind"})
    assert response.status_code == 200
    assert Release.objects.count() == 1
    assert messages_of(response) == ["Not published: review the changes below, then publish."]


def test_nothing_to_publish_says_so(published, admin_client):
    response = admin_client.post(PUBLISH, {"note": "Again", "expected_live": "1"})
    assert response.status_code == 200
    assert Release.objects.count() == 1
    assert messages_of(response) == ["Nothing to publish: the draft is release 1, which is live."]


def test_publishing_needs_the_add_release_permission(published, client):
    # Staff who edit flows may look at the page the flow pages link to.
    staff_with(client, "view_callflow", "change_callflow")
    page = client.get(PUBLISH)
    assert page.status_code == 200
    assert 'publishing needs the permission "Can add release"' in text(page)
    assert 'name="note"' not in page.content.decode()
    assert client.post(PUBLISH, {"note": "x", "expected_live": "1"}).status_code == 403
    assert Release.objects.count() == 1


def test_staff_who_may_see_neither_releases_nor_flows_cannot_open_the_page(published, client):
    staff_with(client, "view_calllog")
    assert client.get(PUBLISH).status_code == 403


def test_staff_with_the_permission_publish(published, client):
    user = staff_with(client, "view_release", "add_release", "view_callflow")
    edit_greeting()
    response = client.post(PUBLISH, {"note": "By staff", "expected_live": "1"})
    assert response.status_code == 302
    assert Release.objects.get(number=2).author == user


def test_the_publish_page_is_linked_from_flow_number_and_release_pages(published, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    number = PhoneNumber.objects.get(number="+15005550006")
    for path in (
        "/admin/telephony/callflow/",
        flow_url(flow),
        "/admin/telephony/phonenumber/",
        f"/admin/telephony/phonenumber/{number.pk}/change/",
        RELEASES,
        release_url(published),
    ):
        page = admin_client.get(path)
        assert page.status_code == 200, path
        assert f'<a href="{PUBLISH}" class="publish-link">Publish changes</a>' in (
            page.content.decode()
        ), path


# --- the draft notice -----------------------------------------------------------------------


def test_flow_pages_say_how_many_changes_are_not_published(published, admin_client):
    flow = CallFlow.objects.get(slug="main-menu")
    assert "You are editing the draft: it is release 1, which callers get." in text(
        admin_client.get("/admin/telephony/callflow/")
    )
    edit_greeting()
    Step.objects.filter(flow__slug="sales", verb="dial").update(timeout=30)  # bulk: no signal
    from telephony.flows import cache

    cache.invalidate()
    for path in ("/admin/telephony/callflow/", flow_url(flow)):
        shown = text(admin_client.get(path))
        assert (
            "You are editing the draft: 2 changes not yet published (callers get release 1). "
            "Publish changes" in shown
        ), path
    publishing.publish(note="Both")
    assert "it is release 2, which callers get" in text(admin_client.get(flow_url(flow)))


def test_the_notice_before_anything_is_published(demo, admin_client):
    shown = text(admin_client.get("/admin/telephony/callflow/"))
    assert "nothing is published yet, so callers hear no flow" in shown


def test_the_notice_costs_a_diff_once_per_change_of_the_draft(published, admin_client, monkeypatch):
    from telephony.releases import changes

    calls = []
    real = changes.describe_draft
    monkeypatch.setattr(changes, "describe_draft", lambda: calls.append(1) or real())
    admin_client.get("/admin/telephony/callflow/")
    admin_client.get("/admin/telephony/callflow/")
    assert len(calls) == 1
    edit_greeting()
    admin_client.get("/admin/telephony/callflow/")
    assert len(calls) == 2


# --- the release list and a release's page -------------------------------------------------


def test_release_list_shows_who_published_what_and_which_is_live(published, admin_client):
    edit_greeting()
    publishing.publish(note="New greeting")
    publishing.roll_back(to=1, note="Back to the demo")
    page = admin_client.get(RELEASES)
    assert page.status_code == 200
    table = page.content.decode().split('id="result_list"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>.*?</tr>", table, flags=re.S)[1:]
    assert len(rows) == 3
    newest = text_of(rows[0])
    assert "Back to the demo" in newest and " 1 " in f" {newest} "  # rolled back to 1
    assert 'alt="True"' in rows[0]  # the live one
    assert all('alt="False"' in row for row in rows[1:])
    assert 'step 1 (Say) text "Welcome to the new Switchboard." ->' in text_of(rows[0])
    assert 'step 1 (Say) text "Thank you for calling' in text_of(rows[1])


def text_of(fragment: str) -> str:
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_releases_cannot_be_added_changed_or_deleted(published, admin_client):
    assert admin_client.get("/admin/telephony/release/add/").status_code == 403
    assert admin_client.get(release_url(published, "delete")).status_code == 403
    page = admin_client.get(release_url(published))
    assert "Save" not in text(page)
    assert 'name="note"' not in page.content.decode()  # shown, not editable
    admin_client.post(release_url(published), {"note": "rewritten"})
    assert Release.objects.get().note == "The demo"
    assert "delete_selected" not in admin_client.get(RELEASES).content.decode()


def test_release_page_shows_note_author_hash_diff_flows_and_diagram(
    published, admin_client, admin_user
):
    edit_greeting()
    MenuOption.objects.filter(target_flow__slug="text-address").delete()
    CallFlow.objects.get(slug="text-address").delete()
    release = publishing.publish(note="Greeting, no address", author=admin_user).release
    page = admin_client.get(release_url(release))
    assert page.status_code == 200
    shown = text(page)
    assert "Greeting, no address" in shown
    assert f"Published by: {admin_user.username}" in shown
    assert release.content_hash in shown
    assert "From release 1 to release 2" in shown
    assert 'Flow "Text our address" removed' in shown
    # Its flows in words, steps in order, as published.
    assert (
        'Main menu (main-menu) Answers calls to +15005550006. Say "Welcome to the new '
        'Switchboard."' in shown
    )
    assert 'Dial phone number +14155550100, rings 20 s, no answer -> "Voicemail"' in shown
    assert "Text our address (text-address)" not in shown
    # Release 1's page still shows the flow the draft has lost since.
    old = text(admin_client.get(release_url(published)))
    assert "Text our address (text-address)" in old
    assert 'press 3 or say "address" -> "Text our address"' in old
    assert "The first release: everything in it was new." in old
    # The diagram (or its text form without Graphviz) is release 1's.
    from telephony.tools import diagram

    if diagram.layout_program() is not None:
        assert (
            '<div class="flow-diagram"><svg'
            in admin_client.get(release_url(published)).content.decode()
        )


def test_release_diagram_falls_back_to_text(published, admin_client, monkeypatch):
    from telephony.tools import diagram

    monkeypatch.setattr(diagram, "layout_program", lambda: None)
    shown = text(admin_client.get(release_url(published)))
    assert 'main-menu --press 3 / say "address"--> text-address' in shown


def test_an_unknown_release_is_not_found(published, admin_client):
    for action in ("make-live", "reset-draft", "export"):
        assert admin_client.get(f"/admin/telephony/release/999/{action}/").status_code == 404


def test_a_release_downloads_as_its_fixture(published, admin_client):
    response = admin_client.get(release_url(published, "export"))
    assert response["Content-Type"] == "application/json"
    assert 'filename="release-1.json"' in response["Content-Disposition"]
    assert response.content.decode() == published.fixture


# --- making a release live again (roll back) ------------------------------------------------


def test_make_this_release_live_again(published, admin_client, admin_user):
    edit_greeting()
    publishing.publish(note="New greeting")
    page = admin_client.get(release_url(published))
    actions = page.content.decode().split('id="release-actions"')[1].split("</div>")[0]
    assert f'action="{release_url(published, "make-live")}"' in actions
    assert 'name="expected_live" value="2"' in actions
    assert "Make this release live again" in actions

    # The button shows what callers will meet differently and asks to confirm.
    confirm = admin_client.post(release_url(published, "make-live"), {"expected_live": "2"})
    assert confirm.status_code == 200
    shown = text(confirm)
    assert "Make release 1 live again?" in shown
    assert 'step 1 (Say) text "Welcome to the new Switchboard." -> "Thank you for calling' in shown
    assert Release.objects.count() == 2

    done = admin_client.post(
        release_url(published, "make-live"),
        {"expected_live": "2", "confirm": "yes", "note": "The new greeting confused people"},
        follow=True,
    )
    rollback = Release.objects.get(number=3)
    assert done.redirect_chain == [(release_url(rollback), 302)]
    assert live() == 3
    assert rollback.rolled_back_to == 1
    assert rollback.content_hash == published.content_hash
    assert rollback.note == "The new greeting confused people"
    assert rollback.author == admin_user
    assert any(m.startswith("Release 1 is live again, as release 3") for m in messages_of(done))
    assert greeting() == "Welcome to the new Switchboard."  # the draft is not touched


def test_make_live_refuses_a_stale_page(published, admin_client):
    edit_greeting()
    publishing.publish(note="Two")
    response = admin_client.post(
        release_url(published, "make-live"), {"expected_live": "1", "confirm": "yes"}
    )
    assert response.status_code == 200
    assert live() == 2
    assert Release.objects.count() == 2
    assert any(
        "release 2 is live now, not the one this page showed" in m for m in messages_of(response)
    )
    assert hidden(response, "expected_live") == "2"  # confirm again against release 2


def test_making_the_live_release_live_is_nothing_to_do(published, admin_client):
    response = admin_client.post(
        release_url(published, "make-live"),
        {"expected_live": "1", "confirm": "yes"},
        follow=True,
    )
    assert Release.objects.count() == 1
    assert any("is what callers get already" in m for m in messages_of(response))
    assert "Make this release live again" not in response.content.decode()  # it is live


def test_the_changelist_action_makes_one_release_live(published, admin_client):
    edit_greeting()
    publishing.publish(note="Two")
    response = admin_client.post(
        RELEASES,
        {"action": "make_live_action", "_selected_action": [published.pk]},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == release_url(published, "make-live")
    assert "Make release 1 live again?" in text(response)
    admin_client.post(
        release_url(published, "make-live"),
        {"expected_live": hidden(response, "expected_live"), "confirm": "yes"},
    )
    assert live() == 3
    assert Release.objects.get(number=3).rolled_back_to == 1

    two = Release.objects.filter(number__in=[1, 2]).values_list("pk", flat=True)
    response = admin_client.post(
        RELEASES, {"action": "make_live_action", "_selected_action": list(two)}, follow=True
    )
    assert "Select exactly one release to make live." in messages_of(response)
    assert live() == 3


def test_rolling_back_needs_the_add_release_permission(published, client):
    staff_with(client, "view_release")
    page = client.get(release_url(published))
    assert page.status_code == 200
    assert "Make this release live again" not in page.content.decode()
    assert "Reset the draft to this release" not in page.content.decode()
    assert client.post(release_url(published, "make-live"), {"confirm": "yes"}).status_code == 403
    assert client.post(release_url(published, "reset-draft"), {"confirm": "yes"}).status_code == 403
    assert "make_live_action" not in client.get(RELEASES).content.decode()


# --- resetting the draft: discard changes, or go back to a release ----------------------------


def test_discard_draft_changes_after_a_confirmation(published, admin_client):
    edit_greeting()
    make_flow("promo", steps=[{"verb": "hangup"}])
    page = admin_client.get(PUBLISH)
    assert f'href="{DISCARD}"' in page.content.decode()

    confirm = admin_client.get(DISCARD)
    assert confirm.status_code == 200
    shown = text(confirm)
    assert "Discard every change made since release 1, the live release?" in shown
    assert 'Flow "Promo" removed' in shown
    assert greeting() == "Welcome to the new Switchboard."  # asking changes nothing

    done = admin_client.post(DISCARD, {"confirm": "yes", "expected_live": "1"}, follow=True)
    assert done.redirect_chain == [(PUBLISH, 302)]
    assert greeting() == GREETING
    assert not CallFlow.objects.filter(slug="promo").exists()
    assert any(m.startswith("Draft changes discarded") for m in messages_of(done))
    assert "Nothing to publish" in text(done)
    assert Release.objects.count() == 1 and live() == 1


def test_discard_refuses_when_someone_published_meanwhile(published, admin_client):
    edit_greeting()
    publishing.publish(note="Two")
    edit_greeting("Later")
    response = admin_client.post(DISCARD, {"confirm": "yes", "expected_live": "1"})
    assert response.status_code == 200
    assert greeting() == "Later"
    assert any("release 2 was published meanwhile" in m for m in messages_of(response))


def test_discard_needs_the_flow_permissions(published, client):
    staff_with(client, "view_release", "add_release", "view_callflow", "change_callflow")
    edit_greeting()
    assert client.get(DISCARD).status_code == 403
    assert client.post(DISCARD, {"confirm": "yes", "expected_live": "1"}).status_code == 403
    assert greeting() == "Welcome to the new Switchboard."
    assert "needs the permissions to add, change and delete call flows" in text(client.get(PUBLISH))


def test_reset_the_draft_to_an_earlier_release(published, admin_client):
    edit_greeting("Two")
    publishing.publish(note="Two")
    edit_greeting("Three, unpublished")
    confirm = admin_client.post(release_url(published, "reset-draft"), {"expected_live": "2"})
    assert "Make the draft (what you edit) exactly release 1?" in text(confirm)
    assert f'step 1 (Say) text "Three, unpublished" -> "{GREETING}"' in text(confirm)
    assert greeting() == "Three, unpublished"

    done = admin_client.post(
        release_url(published, "reset-draft"), {"confirm": "yes", "expected_live": "2"}, follow=True
    )
    assert done.redirect_chain == [(PUBLISH, 302)]
    assert greeting() == GREETING
    assert live() == 2  # callers still get release 2 until this is published
    assert any(m.startswith("The draft is now release 1.") for m in messages_of(done))
    assert 'step 1 (Say) text "Two" ->' in text(done)  # what publishing would change now


# --- test callers ---------------------------------------------------------------------------


def test_test_callers_are_listed_and_added_in_the_admin(db, admin_client):
    page = admin_client.get("/admin/telephony/testcaller/")
    assert "These phones hear the draft (your unpublished changes) when they call or text" in (
        text(page)
    )
    add = admin_client.get("/admin/telephony/testcaller/add/")
    assert "hears the draft (your unpublished changes) when this phone calls or texts" in text(add)
    response = admin_client.post(
        "/admin/telephony/testcaller/add/", {"number": "+14155550142", "name": "Dana's mobile"}
    )
    assert response.status_code == 302
    caller = TestCaller.objects.get()
    assert (str(caller.number), caller.name) == ("+14155550142", "Dana's mobile")
    assert "Dana&#x27;s mobile" in admin_client.get("/admin/telephony/testcaller/").content.decode()


# --- flows that something uses cannot be deleted -------------------------------------------


def test_deleting_a_used_flow_is_refused_with_what_uses_it(demo, admin_client):
    voicemail = CallFlow.objects.get(slug="voicemail")
    menu = CallFlow.objects.get(slug="main-menu")
    sales = CallFlow.objects.get(slug="sales")
    number = PhoneNumber.objects.get(number="+15005550006")
    number.call_flow = voicemail
    number.save()

    page = admin_client.get(flow_url(voicemail, "delete"))
    assert page.status_code == 200
    listed = page.content.decode().split('id="deleted-objects"')[1].split("</ul>")[0]
    assert "Number" in listed and f"/admin/telephony/phonenumber/{number.pk}/change/" in listed
    assert text_of(listed).count("Voicemail") >= 3
    assert f'Option 2 of flow <a href="{flow_url(menu)}">Main menu</a>' in listed
    assert f'Step 2 (Dial) of flow <a href="{flow_url(sales)}">Sales</a>' in listed
    assert "The call flow “Voicemail” cannot be deleted" in text(page)
    assert "Yes, I’m sure" not in page.content.decode()

    response = admin_client.post(flow_url(voicemail, "delete"), {"post": "yes"})
    assert response.status_code == 200
    assert CallFlow.objects.filter(slug="voicemail").exists()
    assert MenuOption.objects.get(flow=menu, digits="2").target_flow == voicemail


def test_bulk_delete_of_used_flows_is_refused_too(demo, admin_client):
    sales = CallFlow.objects.get(slug="sales")
    thanks = CallFlow.objects.get(slug="voicemail-thanks")
    data = {"action": "delete_selected", "_selected_action": [sales.pk, thanks.pk]}
    page = admin_client.post("/admin/telephony/callflow/", data)
    assert page.status_code == 200
    listed = text_of(page.content.decode().split('id="deleted-objects"')[1].split("</ul>")[0])
    assert "Option 1 of flow Main menu leads to flow Sales" in listed
    assert "Step 2 (Record) of flow Voicemail goes to flow Voicemail thanks" in listed
    admin_client.post("/admin/telephony/callflow/", {**data, "post": "yes"})
    assert CallFlow.objects.filter(pk__in=[sales.pk, thanks.pk]).count() == 2


def test_flows_used_only_by_each_other_may_be_deleted_together(db, admin_client):
    b = make_flow("b", steps=[{"verb": "hangup"}])
    a = make_flow("a", steps=[{"verb": "gather"}], options=[("1", b)])
    lone = make_flow("lone", steps=[{"verb": "hangup"}])
    response = admin_client.post(flow_url(lone, "delete"), {"post": "yes"})
    assert response.status_code == 302
    data = {"action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes"}
    assert admin_client.post("/admin/telephony/callflow/", data).status_code == 302
    assert not CallFlow.objects.exists()


# --- the pages keep to the Content-Security-Policy -------------------------------------------


def test_release_pages_have_the_policy_and_no_inline_code(published, admin_client):
    edit_greeting()
    number = PhoneNumber.objects.get(number="+15005550006")
    pages = [
        RELEASES,
        release_url(published),
        release_url(published, "reset-draft"),
        PUBLISH,
        DISCARD,
        "/admin/telephony/testcaller/",
        "/admin/telephony/testcaller/add/",
        flow_url(CallFlow.objects.get(slug="sales"), "delete"),
        f"/admin/telephony/phonenumber/{number.pk}/simulate-sms/",
    ]
    publishing.publish(note="Two")
    edit_greeting("Three")
    pages.append(release_url(published, "make-live"))
    for path in pages:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert directives(response["Content-Security-Policy"]) == POLICY, path
        assert inline_code(response.content.decode()) == [], path
