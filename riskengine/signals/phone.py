"""Phone number signals from libphonenumber metadata (offline, no carrier lookups)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

_LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    # NANP (US, CA, ...) numbers cannot be split into mobile / fixed from the number alone.
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
# No written phone number (even with an extension) is this long; refusing longer input
# bounds the work done on junk (libphonenumber's own cap is 250).
_MAX_INPUT = 64


@dataclass(frozen=True, slots=True)
class PhoneSignals:
    valid: bool
    possible: bool
    country: str | None
    line_type: str
    e164: str | None

    def as_dict(self) -> dict:
        # e164 is a linking key (personal data): never output.
        return {"valid": self.valid, "possible": self.possible, "country": self.country,
                "line_type": self.line_type}


_UNPARSABLE = PhoneSignals(valid=False, possible=False, country=None, line_type="unknown", e164=None)


def phone_signals(raw: str | None, default_region: str | None) -> PhoneSignals | None:
    """`default_region` (the account's declared country) is only used for numbers written
    without a '+country' prefix."""
    if raw is None or not raw.strip():
        return None
    region = default_region.strip().upper() if default_region else None
    if len(raw) > _MAX_INPUT:
        return _UNPARSABLE
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return _UNPARSABLE
    possible = phonenumbers.is_possible_number(num)
    valid = possible and phonenumbers.is_valid_number(num)
    country = phonenumbers.region_code_for_number(num) if valid else None
    return PhoneSignals(
        valid=valid,
        possible=possible,
        # "001" is libphonenumber's region for non-geographic numbers (+800, +870, ...).
        country=country if country and country.isalpha() and country != "ZZ" else None,
        line_type=_LINE_TYPES.get(phonenumbers.number_type(num), "unknown") if valid else "unknown",
        # Link only on numbers of a plausible length: junk should not glue accounts together.
        e164=phonenumbers.format_number(num, PhoneNumberFormat.E164) if possible else None,
    )
