"""The one E.164 normaliser: what webhooks, services, commands and the simulator all use.

`e164()` answers None for anything that is not a valid phone number (Twilio also sends
`client:alice`, `sip:...`, `anonymous`, short codes); `to_e164()` raises a validation error
that names the field, for input staff or code typed.
"""

import phonenumbers
from django.conf import settings

from telephony.exceptions import TelephonyValidationError


def e164(value: object, *, region: str | None = None) -> str | None:
    """`value` as E.164 (+14155550100), or None when it is not a valid phone number.

    Without `region`, only numbers written with their country code (+1...) are read, as
    Twilio writes every number it sends us."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def to_e164(value: object, field_name: str = "to") -> str:
    """`value` as E.164, read in TELEPHONY_DEFAULT_REGION when it has no country code, or a
    TelephonyValidationError naming `field_name`."""
    number = e164(value, region=settings.PHONENUMBER_DEFAULT_REGION)
    if number is None:
        text = str(value or "").strip()
        raise TelephonyValidationError(
            {
                field_name: f"{text or 'An empty value'} is not a valid phone number; use E.164, "
                "e.g. +14155550100."
            }
        )
    return number
