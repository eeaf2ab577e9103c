"""The release commands: publish_flows (and rollback), releases, export_release,
import_release, discard_draft. Each is thin over telephony/releases; these tests run them
as a shell would and read what they print."""

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from telephony.flows.fixtures import content_hash, draft_fixture
from telephony.models import CallFlow, MenuOption, PhoneNumber, Release, SmsRule, Step
from telephony.releases import publishing

pytestmark = pytest.mark.django_db

DEMO = "+15005550006"
GREETING = "Thank you for calling the Switchboard demo."
NEW_GREETING = "Welcome to the new demo."


def run(*args, **options):
    """The command's output lines (stdout)."""
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue().splitlines()


def refused(*args, **options) -> tuple[str, list[str]]:
    """(the CommandError's one line, what the command printed before it)."""
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    message = str(error.value)
    assert "\n" not in message
    return message, out.getvalue().splitlines()


def live():
    return publishing.live_release()


def edit_greeting(text=NEW_GREETING):
    Step.objects.filter(flow__slug="main-menu", position=1).update(text=text)


def break_option_3():
    """An error the flow checks find: option 3 leads nowhere."""
    MenuOption.objects.filter(flow__slug="main-menu", digits="3").update(target_flow=None)


@pytest.fixture
def published(demo):
    """The demo published as release 1, as `make run` leaves it."""
    return publishing.publish(note="The demo.").release


@pytest.fixture
def two_releases(published):
    """Release 1 (the demo) and release 2 (a new greeting), which is live."""
    edit_greeting()
    return published, publishing.publish(note="New greeting").release


# --- publish_flows ----------------------------------------------------------------------


def test_publish_prints_the_changes_then_the_release_it_published(published):
    edit_greeting()
    lines = run("publish_flows", note="New greeting")
    assert lines == [
        "Changes from release 1 (live) to the draft:",
        f'  Flow "Main menu": step 1 (Say) text "{GREETING}" -> "{NEW_GREETING}"',
        "Published release 2: new calls get it now; calls in progress finish on release 1.",
    ]
    release = live()
    assert (release.number, release.note, release.author) == (2, "New greeting", None)
    assert release.content_hash == content_hash(draft_fixture())


def test_the_first_publish_lists_everything_as_added(demo):
    lines = run("publish_flows", "--note", "The demo")
    assert lines[0] == "Nothing is published yet; the draft holds:"
    assert '  Flow "Main menu" added (3 steps, 3 options)' in lines
    assert f'  Number {DEMO} now answers with "Main menu"' in lines
    assert lines[-1] == "Published release 1: new calls get it now."
    assert live().number == 1


def test_publish_needs_a_note(published):
    edit_greeting()
    message, printed = refused("publish_flows")
    assert message == 'Say what changed: --note "..." (kept in the history of releases).'
    message, printed = refused("publish_flows", note="   ")
    assert message.startswith("Say what changed")
    assert live().number == 1


def test_nothing_to_publish(published):
    message, printed = refused("publish_flows", note="again")
    assert message == "Nothing to publish: the draft is release 1, which is live."
    assert printed == []
    assert Release.objects.count() == 1


def test_publishing_is_refused_while_the_flow_checks_find_errors(published):
    edit_greeting()
    break_option_3()
    message, printed = refused("publish_flows", note="Broken")
    assert message == (
        "Not published: the flow checks found 1 error(s). Fix them, then publish again."
    )
    assert printed == [
        "Changes from release 1 (live) to the draft:",
        f'  Flow "Main menu": step 1 (Say) text "{GREETING}" -> "{NEW_GREETING}"',
        '  Flow "Main menu": option 3 now leads to nowhere (was "Text our address")',
        "ERROR   flow main-menu: Option 3: it leads nowhere (its flow was deleted).",
        "WARNING flow text-address: No number, option or step leads to this flow, so no "
        "caller can reach it.",
    ]
    assert live().number == 1
    assert Release.objects.count() == 1


def test_warnings_are_printed_and_do_not_block(published):
    CallFlow.objects.create(slug="unused", name="Unused")
    lines = run("publish_flows", note="A flow for later")
    assert lines == [
        "Changes from release 1 (live) to the draft:",
        '  Flow "Unused" added (no steps)',
        "WARNING flow unused: No number, option or step leads to this flow, so no caller can "
        "reach it.",
        "WARNING flow unused: This flow has no steps: Twilio hangs up at once.",
        "Published release 2: new calls get it now; calls in progress finish on release 1.",
    ]


def test_a_publish_that_raced_another_is_told(published, monkeypatch):
    """Somebody publishes while the command prints the changes it reviewed."""
    from telephony.management.commands import publish_flows

    edit_greeting()
    describe = publish_flows.describe

    def describe_while_somebody_publishes(old, new):
        sentences = describe(old, new)
        publishing.publish(note="Published by somebody else")
        SmsRule.objects.filter(keyword="HOURS").update(reply="Open 9 to 6.")
        return sentences

    monkeypatch.setattr(publish_flows, "describe", describe_while_somebody_publishes)
    message, printed = refused("publish_flows", note="Mine")
    assert message == (
        "Release 2 was published meanwhile (you reviewed the changes against release 1). "
        "Review the changes again, then publish."
    )
    assert live().note == "Published by somebody else"
    assert Release.objects.count() == 2


def test_dry_run_prints_the_changes_and_the_checks_and_publishes_nothing(published):
    edit_greeting()
    CallFlow.objects.create(slug="unused", name="Unused")
    lines = run("publish_flows", "--dry-run")
    assert lines == [
        "Changes from release 1 (live) to the draft:",
        f'  Flow "Main menu": step 1 (Say) text "{GREETING}" -> "{NEW_GREETING}"',
        '  Flow "Unused" added (no steps)',
        "WARNING flow unused: No number, option or step leads to this flow, so no caller can "
        "reach it.",
        "WARNING flow unused: This flow has no steps: Twilio hangs up at once.",
        "Dry run: nothing published.",
    ]
    assert Release.objects.count() == 1


def test_dry_run_fails_when_publishing_would_be_refused(published):
    break_option_3()
    message, printed = refused("publish_flows", "--dry-run")
    assert message == "Publishing would be refused: the flow checks found 1 error(s)."
    assert "ERROR   flow main-menu: Option 3: it leads nowhere (its flow was deleted)." in printed
    assert Release.objects.count() == 1


def test_dry_run_with_nothing_to_publish(published):
    assert run("publish_flows", "--dry-run") == [
        "Nothing to publish: the draft is release 1, which is live."
    ]


# --- rolling back -----------------------------------------------------------------------


def test_release_n_makes_an_earlier_release_live_again(two_releases):
    first, second = two_releases
    lines = run("publish_flows", release=1)
    assert lines == [
        "Changes from release 2 (live) back to release 1:",
        f'  Flow "Main menu": step 1 (Say) text "{NEW_GREETING}" -> "{GREETING}"',
        "Release 1 is live again, as release 3: new calls get it now.",
        "The draft still holds the newer changes (publishing would bring them back); "
        "`manage.py discard_draft` resets it to release 3.",
    ]
    rollback = live()
    assert (rollback.number, rollback.rolled_back_to) == (3, 1)
    assert rollback.note == "Rolled back to release 1."
    assert rollback.fixture == first.fixture
    # The draft is untouched.
    assert Step.objects.get(flow__slug="main-menu", position=1).text == NEW_GREETING


def test_a_rollback_takes_a_note_and_says_nothing_of_a_draft_that_matches(two_releases):
    edit_greeting(GREETING)  # the draft is release 1 again
    lines = run("publish_flows", release=1, note="The new greeting confused callers")
    assert lines[-1] == "Release 1 is live again, as release 3: new calls get it now."
    assert live().note == "The new greeting confused callers"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (2, "Release 2 is what callers get already (live: release 2)."),
        (9, "There is no release 9 (manage.py releases lists them)."),
    ],
)
def test_rollback_refusals(two_releases, number, message):
    assert refused("publish_flows", release=number)[0] == message
    assert Release.objects.count() == 2


def test_rollback_dry_run(two_releases):
    lines = run("publish_flows", "--dry-run", release=1)
    assert lines[0] == "Changes from release 2 (live) back to release 1:"
    assert lines[-1] == "Dry run: nothing rolled back."
    assert live().number == 2


# --- releases ---------------------------------------------------------------------------

ROW = re.compile(r"^ (?P<live>[* ]) +(?P<number>\d+)  \d{4}-\d\d-\d\d \d\d:\d\d  (?P<rest>.*)$")


def rows(lines):
    return [ROW.match(line).groupdict() for line in lines if ROW.match(line)]


def test_releases_before_any(db):
    assert run("releases") == [
        'Nothing is published yet: `manage.py publish_flows --note "..."` publishes the draft '
        "as release 1."
    ]


def test_releases_lists_number_date_author_note_and_the_live_one(two_releases):
    staff = get_user_model().objects.create_user("dana")
    SmsRule.objects.filter(keyword="HOURS").update(reply="Open 9 to 6.")
    publishing.publish(note="Longer hours", author=staff)
    publishing.roll_back(to=2)
    lines = run("releases")
    assert lines[0] == "      #  Published         Author        Note"
    assert rows(lines) == [
        {"live": "*", "number": "4", "rest": "-             Rolled back to release 2."},
        {"live": " ", "number": "3", "rest": "dana          Longer hours"},
        {"live": " ", "number": "2", "rest": "-             New greeting"},
        {"live": " ", "number": "1", "rest": "-             The demo."},
    ]
    assert lines[-2:] == [
        "* live: release 4, what callers get now.",
        "The draft has changes not published yet (`manage.py publish_flows --dry-run` shows them).",
    ]


def test_releases_changes_and_limit(two_releases):
    lines = run("releases", "--changes", limit=1)
    assert lines[1:] == [
        " *    2  " + lines[1][9:25] + "  -             New greeting",
        f'           Flow "Main menu": step 1 (Say) text "{GREETING}" -> "{NEW_GREETING}"',
        "... and 1 older (--limit 0 lists all).",
        "* live: release 2, what callers get now.",
    ]
    assert len(rows(run("releases", limit=0))) == 2


def test_a_long_note_is_cut(published):
    edit_greeting()
    publishing.publish(note="A very long note " * 10)
    (row, _) = rows(run("releases"))
    assert row["rest"].endswith("…") and len(row["rest"]) == 14 + 60


# --- export_release ---------------------------------------------------------------------


def test_export_writes_the_live_release_by_default(two_releases):
    out = io.StringIO()
    call_command("export_release", stdout=out)
    assert out.getvalue() == two_releases[1].fixture + "\n"
    assert json.loads(out.getvalue())[0]["model"] == "telephony.callflow"


def test_export_a_release_to_a_file(two_releases, tmp_path):
    target = tmp_path / "release-1.json"
    assert run("export_release", "1", "--output", str(target)) == [f"Wrote release 1 to {target}."]
    assert target.read_text(encoding="utf-8") == two_releases[0].fixture + "\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["7"], "There is no release 7 (manage.py releases lists them)."),
        (["x"], "Error: argument N: invalid int value: 'x'"),
        (["--output", "/nonexistent/dir/file.json"], "Cannot write /nonexistent/dir/file.json: "),
    ],
)
def test_export_refusals(published, args, message):
    assert refused("export_release", *args)[0].startswith(message)


def test_export_before_anything_is_published(demo):
    assert refused("export_release")[0] == (
        "Nothing is published yet: there is no release to export."
    )


# --- import_release ---------------------------------------------------------------------


def test_export_then_import_makes_the_draft_that_release(two_releases, tmp_path):
    first, second = two_releases
    path = tmp_path / "release-1.json"
    run("export_release", "1", output=str(path))
    # The draft moves on: a flow added, a step removed, a number retargeted, a rule changed.
    promo = CallFlow.objects.create(slug="promo", name="Spring promo")
    Step.objects.create(flow=promo, position=1, verb="say", text="Spring sale!")
    Step.objects.filter(flow__slug="sales", position=1).delete()
    PhoneNumber.objects.filter(number=DEMO).update(call_flow=promo)
    SmsRule.objects.filter(keyword="HOURS").update(reply="Open 9 to 6.")

    lines = run("import_release", str(path))
    assert lines == [
        "The draft now holds the file. What changed in the draft:",
        f'  Flow "Main menu": step 1 (Say) text "{NEW_GREETING}" -> "{GREETING}"',
        '  Flow "Sales": step 1 (Say) added: "Connecting you to our sales team."',
        '  Flow "Spring promo" removed',
        f'  Number {DEMO} now answers with "Main menu" (was "Spring promo")',
        f'  SMS rule HOURS of {DEMO}: reply "Open 9 to 6." -> "We are open Monday to Friday, '
        '9am to 5pm Pacific time."',
        "This is the draft, not live: callers get it after `manage.py publish_flows --note "
        '"..."` (test callers hear it now).',
    ]
    assert draft_fixture() == first.fixture
    assert live().number == 2  # importing publishes nothing


def test_import_from_stdin(two_releases, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(two_releases[0].fixture))
    lines = run("import_release", "-")
    assert lines[1] == f'  Flow "Main menu": step 1 (Say) text "{NEW_GREETING}" -> "{GREETING}"'
    assert draft_fixture() == two_releases[0].fixture


def test_importing_what_the_draft_holds_changes_nothing(published, tmp_path):
    path = tmp_path / "release.json"
    path.write_text(published.fixture, encoding="utf-8")
    assert run("import_release", str(path)) == [
        "The draft already held what the file holds: nothing changed."
    ]


def test_an_import_the_checks_find_errors_in_says_so(published, tmp_path):
    objects = json.loads(published.fixture)
    for obj in objects:
        if obj["model"] == "telephony.menuoption" and obj["fields"]["digits"] == "3":
            obj["fields"]["target_flow"] = None
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(objects), encoding="utf-8")
    lines = run("import_release", str(path))
    assert lines[1] == '  Flow "Main menu": option 3 now leads to nowhere (was "Text our address")'
    assert lines[2:4] == [
        "ERROR   flow main-menu: Option 3: it leads nowhere (its flow was deleted).",
        "The flow checks find 1 error(s): publishing is refused until they are fixed.",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "Not a release file: not JSON (Expecting value: line 1 column 1 (char 0))."),
        (
            '[{"model": "auth.user", "fields": {}}]',
            "Not a release file: expected a JSON list of flows, steps, options, numbers, "
            "SMS rules and schedules, as `manage.py export_release` writes.",
        ),
        (
            '[{"model": "telephony.callflow", "pk": 1, "fields": {"slug": "x", "name": "X"}}]',
            "Not a release file: it has primary keys (dumpdata without --natural-primary); "
            "rows would be overwritten by id.",
        ),
    ],
)
def test_a_file_that_is_not_a_release_is_refused(published, tmp_path, content, message):
    path = tmp_path / "file.json"
    path.write_text(content, encoding="utf-8")
    assert refused("import_release", str(path)) == (message, [])
    assert draft_fixture() == published.fixture


def test_a_release_naming_a_box_this_install_lacks_is_refused(published, tmp_path):
    objects = json.loads(published.fixture)
    for obj in objects:
        if obj["model"] == "telephony.step" and obj["fields"]["box"]:
            obj["fields"]["box"] = ["Night desk"]
    path = tmp_path / "other.json"
    path.write_text(json.dumps(objects), encoding="utf-8")
    edit_greeting()
    before = draft_fixture()
    message, printed = refused("import_release", str(path))
    assert message.startswith("Not a release this install can read: ")
    assert "VoicemailBox matching query does not exist" in message
    assert draft_fixture() == before  # one transaction: nothing changed


def test_import_of_a_file_that_cannot_be_read(db, tmp_path):
    assert refused("import_release", str(tmp_path / "missing.json"))[0] == (
        f"Cannot read {tmp_path / 'missing.json'}: No such file or directory."
    )
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    assert refused("import_release", str(binary))[0] == f"Cannot read {binary}: not UTF-8 text."


# --- discard_draft ----------------------------------------------------------------------


def test_discard_resets_the_draft_to_the_live_release(two_releases):
    edit_greeting("A half-finished greeting")
    lines = run("discard_draft", interactive=False)
    assert lines == [
        "These changes in the draft (compared with release 2) are discarded:",
        f'  Flow "Main menu": step 1 (Say) text "{NEW_GREETING}" -> "A half-finished greeting"',
        "The draft is release 2 again.",
    ]
    assert draft_fixture() == two_releases[1].fixture


def test_discard_to_another_release(two_releases):
    lines = run("discard_draft", release=1, interactive=False)
    assert lines == [
        "These changes in the draft (compared with release 1) are discarded:",
        f'  Flow "Main menu": step 1 (Say) text "{GREETING}" -> "{NEW_GREETING}"',
        "The draft is release 1 again.",
        "Callers still get the live release: publish the draft to make it live.",
    ]
    assert draft_fixture() == two_releases[0].fixture
    assert live().number == 2


def test_nothing_to_discard(two_releases):
    assert run("discard_draft", interactive=False) == [
        "The draft is release 2 already: nothing to discard."
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"release": 5}, "There is no release 5 (manage.py releases lists them)."),
        ({}, "Nothing is published yet: there is no release to reset the draft to."),
    ],
)
def test_discard_refusals(demo, options, message):
    assert refused("discard_draft", interactive=False, **options)[0] == message


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_discard_asks_first_in_a_terminal(two_releases, monkeypatch):
    edit_greeting("Half-finished")
    monkeypatch.setattr("sys.stdin", Terminal())
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "no")
    assert refused("discard_draft")[0] == "Nothing discarded."
    assert asked == ["Type 'yes' to discard them: "]
    assert Step.objects.get(flow__slug="main-menu", position=1).text == "Half-finished"

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert run("discard_draft")[-1] == "The draft is release 2 again."
    assert draft_fixture() == two_releases[1].fixture


# --- the whole story, as the README tells it ------------------------------------------


def test_edit_publish_roll_back_discard(published):
    """Edit the demo greeting: callers keep the old one until publish_flows; a rollback
    brings it back, and discard_draft drops the edit."""
    from telephony.tools.simulator import CallSimulator

    def hears(**kwargs):
        transcript = CallSimulator(max_requests=1, **kwargs).run_number(DEMO)
        return next(line.text for line in transcript.lines if line.text.startswith("Says"))

    edit_greeting()
    assert hears() == f'Says: "{GREETING}"'
    assert hears(release="draft") == f'Says: "{NEW_GREETING}"'
    run("publish_flows", note="New greeting")
    assert hears() == f'Says: "{NEW_GREETING}"'
    run("publish_flows", release=1)
    assert hears() == f'Says: "{GREETING}"'
    run("discard_draft", interactive=False)
    assert hears(release="draft") == f'Says: "{GREETING}"'
    assert refused("publish_flows", note="again")[0] == (
        "Nothing to publish: the draft is release 3, which is live."
    )
