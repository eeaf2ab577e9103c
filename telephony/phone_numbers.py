"""The one E.164 normaliser: what webhooks, services, commands and the simulator all use.

`e164()` answers None for anything that is not a valid phone number (Twilio also sends
`client:alice`, `sip:...`, `anonymous`, short codes); `to_e164()` raises a validation error
that names the field, for input staff or code typed.

Text already written in E.164 (what Twilio sends, and most lists) skips phonenumbers'
parser, which is built for free-form text and costs more than the validity check: the
country code is split off with phonenumbers' own table and the number is still checked
with `is_valid_number`, so both paths accept exactly the same numbers.
"""

import functools
import re

import phonenumbers
from django.conf import settings
from phonenumbers import PhoneMetadata

from telephony.exceptions import TelephonyValidationError


def e164(value: object, *, region: str | None = None) -> str | None:
    """`value` as E.164 (+14155550100), or None when it is not a valid phone number.

    Without `region`, only numbers written with their country code (+1...) are read, as
    Twilio writes every number it sends us."""
    text = str(value or "").strip()
    if not text:
        return None
    if _E164.fullmatch(text):
        number = _split_e164(text)
        if number is not None:
            return text if phonenumbers.is_valid_number(number) else None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# "+", then digits without a leading zero: E.164's shape (at most 15 digits).
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@functools.cache
def _national_prefix(country_code: int) -> re.Pattern | None:
    """The national prefix phonenumbers' parser strips from a number of `country_code`
    (the 1 of a US number dialled as 1 415..., Madagascar's 0...), or None."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    prefix = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(prefix) if prefix else None


def _split_e164(text: str) -> phonenumbers.PhoneNumber | None:
    """`text` (E.164's shape) as the PhoneNumber the parser would read, or None to leave
    it to the parser: an unknown country code, a national number with a leading zero (as
    in Italy), or one that begins like a national prefix (which the parser may strip)."""
    digits = text[1:]
    for length in (1, 2, 3):  # country codes are prefix-free: at most one matches
        country_code = int(digits[:length])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[length:]
            prefix = _national_prefix(country_code)
            if not national or national[0] == "0" or (prefix and prefix.match(national)):
                return None
            return phonenumbers.PhoneNumber(
                country_code=country_code, national_number=int(national)
            )
    return None


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
