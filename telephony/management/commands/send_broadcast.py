"""Create a broadcast (a text, --body) or a call campaign (a flow, --flow) from a CSV and
queue it; a task worker sends it (returns at once)."""

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from telephony.broadcasts import recipients, services
from telephony.management.errors import EXPECTED, command_error
from telephony.models.broadcasts import placeholders


def _time(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"--at {value!r} is not a time; use ISO 8601, e.g. 2026-05-01T09:00+02:00."
        ) from exc
    return when if timezone.is_aware(when) else timezone.make_aware(when)


class Command(BaseCommand):
    help = (
        "Create a broadcast from a CSV (a number or phone column; other columns fill "
        "{placeholders}) and queue it: a text (--body) or calls that play a flow (--flow)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--csv", required=True, help="The recipients: a CSV file with a header row."
        )
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--body", help="The text, with {column} placeholders.")
        what.add_argument(
            "--flow", help="Call each number instead: the slug of a flow of the live release."
        )
        sender = parser.add_mutually_exclusive_group()
        sender.add_argument(
            "--from",
            dest="from_",
            help="One of our SMS-capable numbers (E.164); for --flow, the voice number to call from.",
        )
        sender.add_argument("--messaging-service", help="A Messaging Service SID (MG...).")
        parser.add_argument(
            "--rate",
            type=float,
            help="Segments per second (default: the sender's); with --flow, calls per second "
            "(default 1, at most TELEPHONY_ACCOUNT_MAX_CALL_RATE).",
        )
        parser.add_argument("--at", help="Start time, ISO 8601 (default: now).")
        parser.add_argument("--media-url", default="", help="An image or file to attach (MMS).")
        parser.add_argument("--name", default="", help="A name for the broadcast.")

    def handle(self, *args, **options):
        path = options["csv"]
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        if options["rate"] is not None and options["rate"] <= 0:
            raise CommandError("--rate must be a positive number of segments per second.")
        start_at = _time(options["at"]) if options["at"] else None
        if options["flow"] is not None:
            created = self.call_campaign(text, start_at, options)
        else:
            created = self.text_broadcast(text, start_at, options)
        broadcast = created.broadcast
        for problem in created.problems:
            self.stdout.write(f"skipped {problem}")
        when = f"at {broadcast.start_at.isoformat()}" if broadcast.start_at else "now"
        if broadcast.is_call and broadcast.rate and broadcast.sender_rate() < broadcast.rate:
            self.stdout.write(
                f"--rate {broadcast.rate:g} is above TELEPHONY_ACCOUNT_MAX_CALL_RATE: calls go "
                f"at {broadcast.sender_rate():g} a second (ask Twilio to raise the account's limit)."
            )
        kind = "Call campaign" if broadcast.is_call else "Broadcast"
        self.stdout.write(
            self.style.SUCCESS(
                f"{kind} {broadcast.pk} ({broadcast.state}, starts {when}): {created.queued} "
                f"queued, {created.opted_out} opted out, {created.blocked} blocked, {len(created.problems)} "
                f"invalid, {created.duplicates} duplicates. A task worker sends it; "
                f"follow it with `manage.py broadcast_status {broadcast.pk}`."
            )
        )

    def call_campaign(self, text, start_at, options):
        if options["messaging_service"] or options["media_url"]:
            raise CommandError("A call campaign (--flow) has no Messaging Service nor media.")
        if not options["from_"]:
            raise CommandError("--flow needs --from: the voice number of ours to call from.")
        try:
            parsed = recipients.parse_csv(text)
            return services.create_call_campaign(
                name=options["name"] or options["csv"],
                flow_slug=options["flow"],
                recipients=parsed,
                phone_number=services.caller_id_number(options["from_"]),
                rate=options["rate"],
                start_at=start_at,
            )
        except EXPECTED as exc:
            raise command_error(exc) from exc

    def text_broadcast(self, text, start_at, options):
        path = options["csv"]
        try:
            parsed = recipients.parse_csv(text, needed=placeholders(options["body"]))
            phone = services.sender_number(options["from_"]) if options["from_"] else None
            return services.create_broadcast(
                name=options["name"] or path,
                body=options["body"],
                recipients=parsed,
                phone_number=phone,
                messaging_service_sid=options["messaging_service"] or "",
                media_url=options["media_url"],
                rate=options["rate"],
                start_at=start_at,
            )
        except EXPECTED as exc:
            raise command_error(exc) from exc
