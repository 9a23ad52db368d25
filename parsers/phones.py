"""Phone numbers to E.164, via Google's libphonenumber port."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=65536)
def to_e164(value: str, region: str = "US") -> str | None:
    """E.164 form of a number as written in a notice, or None when it is not a number.

    Notices write North American numbers, with or without +1; anything that does
    not parse to a possible number is kept out rather than guessed.
    """
    digits = value.strip()
    if not any(c.isdigit() for c in digits):
        return None
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
