"""Phone number signals from libphonenumber metadata (offline, no carrier lookups)."""

from __future__ import annotations

import re
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


_LEADING_00 = re.compile(r"^[\s().-]*0[\s().-]*0(?=[\s().-]*[1-9])")


def _after_00(raw: str) -> str | None:
    """What follows a leading "00" (ITU's recommended international prefix, spaces and
    punctuation allowed around it) when a calling code follows, else None."""
    m = _LEADING_00.match(raw)
    return raw[m.end():] if m else None


def _try_parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _own_prefix(region: str | None) -> str | None:
    """The region's usual international prefix when it is not "00" (011 in NANP, 0011 in AU)."""
    md = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    if md is None:
        return None
    prefix = (md.preferred_international_prefix or md.international_prefix or "").replace("~", "")
    return prefix if prefix.isdigit() and prefix != "00" else None


def _parse(raw: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """libphonenumber strips the region's own international prefix (011 in NANP, 0011 in AU,
    810 in RU, ...), but not "00" where that is not the region's prefix (AU: "0061..." becomes
    the national number "061..."), nor anything without a region; and where the region's
    prefixes carry a carrier code (HK "00[126-9]", KR "009", BR "00" + two digits) it reads
    "00 852 ..." as carrier 8 + Mexico. So a leading "00" is also read as "+" (ITU's standard
    international prefix). A valid reading beats an invalid one; when both are valid, the "00"
    reading wins unless the number starts with the region's own usual prefix ("0011 32 ..."
    in AU is Belgium, not "+1 132 ...")."""
    as_written = _try_parse(raw, region)
    after_00 = _after_00(raw)
    as_00 = _try_parse(f"+{after_00}", None) if after_00 else None
    if as_00 is None or not phonenumbers.is_valid_number(as_00):
        return as_written or as_00
    if as_written is None or not phonenumbers.is_valid_number(as_written):
        return as_00
    own = _own_prefix(region)
    digits = "".join(ch for ch in raw if "0" <= ch <= "9")
    return as_written if own and digits.startswith(own) else as_00


def _country(num: phonenumbers.PhoneNumber, region: str | None) -> str | None:
    # A calling code shared by several regions (+1, +7, +44, +39, +358, ...) maps a number to the
    # first region whose patterns match; a number valid in the declared region is from there.
    if region and phonenumbers.is_valid_number_for_region(num, region):
        return region
    country = phonenumbers.region_code_for_number(num)
    # "001" is libphonenumber's region for non-geographic numbers (+800, +870, ...).
    return country if country and country.isalpha() and country != "ZZ" else None


def phone_signals(raw: str | None, default_region: str | None) -> PhoneSignals | None:
    """`default_region` (the account's declared country) reads national numbers and the
    region's international prefix, and is the country of any number valid in it."""
    if raw is None or not raw.strip():
        return None
    region = default_region.strip().upper() if default_region else None
    if len(raw) > _MAX_INPUT:
        return _UNPARSABLE
    num = _parse(raw, region)
    if num is None:
        return _UNPARSABLE
    possible = phonenumbers.is_possible_number(num)
    valid = possible and phonenumbers.is_valid_number(num)
    return PhoneSignals(
        valid=valid,
        possible=possible,
        country=_country(num, region) if valid else None,
        line_type=_LINE_TYPES.get(phonenumbers.number_type(num), "unknown") if valid else "unknown",
        # Link only on numbers of a plausible length: junk should not glue accounts together.
        # E.164 is the one spelling of a number, whatever way it was written.
        e164=phonenumbers.format_number(num, PhoneNumberFormat.E164) if possible else None,
    )
