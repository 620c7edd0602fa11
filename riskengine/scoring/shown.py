"""What an analyst may see of a phone and a card: their last digits, taken while the raw
value is at hand (at assess time; storage keeps phones and card fingerprints only as keyed
hashes, which say nothing readable). Four digits of each, as card receipts and account pages
show them: enough to tell an analyst's "ending 0123" from another number on the phone with a
customer, far too few to call or charge anyone. The card's brand comes from its BIN (the
issuer's range, not the card) and is no personal data; the BIN itself is not kept here."""
from __future__ import annotations

DIGITS = 4

# IIN ranges of the major networks (ISO/IEC 7812 prefixes as the networks publish them), as
# (first, last, length of the prefix compared), most specific first where they overlap.
_BRANDS = (
    ("amex", ((34, 34, 2), (37, 37, 2))),
    ("diners", ((300, 305, 3), (36, 36, 2), (38, 39, 2))),
    ("discover", ((6011, 6011, 4), (644, 649, 3), (65, 65, 2))),
    ("jcb", ((3528, 3589, 4),)),
    ("mastercard", ((51, 55, 2), (2221, 2720, 4))),
    ("unionpay", ((62, 62, 2),)),
    ("visa", ((4, 4, 1),)),
)


def last_digits(text: str | None, n: int = DIGITS) -> str | None:
    """The last `n` digits of a number however it was written; None when it has fewer than
    twice that many (a value that short would be shown nearly whole)."""
    if not text:
        return None
    digits = [c for c in text if c.isascii() and c.isdigit()]
    return "".join(digits[-n:]) if len(digits) >= 2 * n else None


def card_last4(last4: str | None) -> str | None:
    """The request's payment.last4 when it is four digits, else None."""
    value = (last4 or "").strip()
    return value if len(value) == DIGITS and value.isascii() and value.isdigit() else None


def card_brand(bin_: str | None) -> str | None:
    """The card network of a BIN (at least 6 digits), or None when it is none of the majors."""
    if not bin_ or len(bin_) < 6 or not (bin_.isascii() and bin_.isdigit()):
        return None
    for brand, ranges in _BRANDS:
        for first, last, width in ranges:
            if first <= int(bin_[:width]) <= last:
                return brand
    return None


def columns(phone_e164: str | None, raw_phone: str | None, last4: str | None, bin_: str | None) -> dict:
    """The assessment row's shown columns (storage.tables.Assessment): the phone's last digits
    (of its E.164 form when it parsed, else of what was sent), the card's last 4 and brand."""
    return {"phone_last4": last_digits(phone_e164 or raw_phone), "card_last4": card_last4(last4),
            "card_brand": card_brand(bin_)}
