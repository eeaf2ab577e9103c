"""manage.py simulate_call: play a call through the real webhooks, no phone needed."""

import sys

from django.core.management.base import BaseCommand, CommandError

from telephony.exceptions import TelephonyError
from telephony.flows.loading import DRAFT
from telephony.models import Release
from telephony.releases import publishing
from telephony.tools.simulator import (
    DEFAULT_FROM,
    DIAL_STATUSES,
    MAX_REQUESTS,
    CallSimulator,
    GatherInfo,
    SimulatorError,
    error_text,
    parse_answer,
    quiet_logs,
    scripted_input,
)

_KEYS = set("0123456789*#")


def add_release_arguments(parser, verb: str) -> None:
    """--draft / --release N: what callers meet is the live release unless told."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--draft",
        action="store_true",
        help=f"{verb} the draft (what staff edited, as test callers hear it).",
    )
    which.add_argument(
        "--release",
        type=int,
        metavar="N",
        help=f"{verb} release N (default: the live release, as callers get it).",
    )


def release_option(options) -> str | None:
    """The simulator's release: None (live), "draft" or the number as text; a CommandError
    when there is no such release (rather than a call to a number "not in service")."""
    if options.get("draft"):
        return DRAFT
    number = options.get("release")
    if number is None:
        if publishing.live_release() is None:
            raise CommandError(
                "Nothing is published yet: --draft plays the draft "
                '(`manage.py publish_flows --note "..."` publishes it).'
            )
        return None
    if not Release.objects.filter(number=number).exists():
        raise CommandError(f"There is no release {number} (manage.py releases lists them).")
    return str(number)


def _items(values) -> list[str]:
    """Repeatable options that also take comma lists: --digits 1,2 --digits 3."""
    return [item.strip() for value in values or [] for item in value.split(",")]


class Command(BaseCommand):
    help = (
        "Play a call through the real webhooks, signed as Twilio signs them, and print what "
        "the caller hears. Input for each Gather comes from --digits/--speech, else from the "
        "terminal when there is one, else the Gather times out."
    )

    def add_arguments(self, parser):
        start = parser.add_mutually_exclusive_group(required=True)
        start.add_argument("--number", help="Call this number of ours (E.164).")
        start.add_argument("--flow", help="Run this flow (slug) directly.")
        parser.add_argument("--from", dest="caller", default=DEFAULT_FROM, help="Caller's number.")
        parser.add_argument(
            "--digits",
            action="append",
            help="Keys for each Gather in turn, comma-separated (an empty item: no input).",
        )
        parser.add_argument(
            "--speech",
            action="append",
            help="Words for each speech Gather in turn; repeat the option or separate by commas.",
        )
        parser.add_argument(
            "--dial-status",
            choices=DIAL_STATUSES,
            default="no-answer",
            help="How every Dial ends (default: no-answer).",
        )
        parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS)
        parser.add_argument(
            "--at",
            metavar="TIME",
            help=(
                "Call at this time, for Hours steps: ISO 8601, e.g. 2026-12-25T10:00-08:00, "
                'or "2026-12-25 10:00" (no offset: each schedule\'s own local time). '
                "Default: now."
            ),
        )
        add_release_arguments(parser, "Play")

    def handle(self, *args, **options):
        digits = _items(options["digits"])
        for item in digits:
            if not set(item) <= _KEYS:
                raise CommandError(f"--digits: {item!r} is not keypad keys (0-9, * and #).")
        speech = _items(options["speech"])
        interactive = not digits and not speech and sys.stdin.isatty()
        release = release_option(options)
        try:
            simulator = CallSimulator(
                caller=options["caller"],
                inputs=scripted_input(digits, speech, ask=self.ask if interactive else None),
                dial_status=options["dial_status"],
                max_requests=options["max_requests"],
                release=release,
                at=options["at"],
                on_line=lambda line: self.stdout.write(
                    line.text if line.kind in ("start", "end") else f"  {line.text}"
                ),
            )
            with quiet_logs(options["verbosity"]):
                if options["number"]:
                    simulator.run_number(options["number"])
                else:
                    simulator.run_flow(options["flow"])
        except TelephonyError as error:
            raise CommandError(error_text(error)) from None

    def ask(self, gather: GatherInfo) -> str | None:
        kinds = " or ".join(
            kind
            for kind, ok in (("keys", gather.accepts_keys), ("words", gather.accepts_speech))
            if ok
        )
        while True:
            try:
                answer = input(f"  Your {kinds} (Enter: no input) > ")
            except EOFError:
                return None
            try:
                parse_answer(answer, gather)
            except SimulatorError as error:  # ask again rather than end the call
                self.stderr.write(f"  {error_text(error)}")
                continue
            return answer
