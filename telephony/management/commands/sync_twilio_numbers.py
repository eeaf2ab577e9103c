"""Copy the Twilio account's numbers and verified caller IDs into the database."""

from django.core.management.base import BaseCommand

from telephony.management.errors import EXPECTED, command_error
from telephony.sending import services


class Command(BaseCommand):
    help = (
        "Pull IncomingPhoneNumbers into Phone numbers and OutgoingCallerIds into Verified "
        "caller IDs (nothing is deleted; flows stay attached)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--configure-webhooks",
            action="store_true",
            help="Also point each number's voice, SMS, status and fallback URLs at "
            "TELEPHONY_PUBLIC_URL.",
        )

    def handle(self, *args, configure_webhooks=False, **options):
        try:
            result = services.sync_numbers(configure_webhooks=configure_webhooks)
        except EXPECTED as exc:
            raise command_error(exc) from exc
        write = self.stdout.write
        write(
            f"Phone numbers: {len(result.numbers_created)} new, "
            f"{len(result.numbers_updated)} updated."
        )
        write(
            f"Verified caller IDs: {len(result.caller_ids_created)} new, "
            f"{len(result.caller_ids_updated)} updated."
        )
        for number in result.skipped:
            write(self.style.WARNING(f"Skipped {number}: not a valid phone number."))
        if configure_webhooks:
            hooks = services.number_webhooks()
            write(
                f"Pointed {len(result.configured)} number(s) at {hooks.voice_url} (voice), "
                f"{hooks.sms_url} (SMS), {hooks.status_callback} (status), "
                f"{hooks.voice_fallback_url} (fallback)."
            )
        write(self.style.SUCCESS("Done."))
