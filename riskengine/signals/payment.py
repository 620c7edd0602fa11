"""Payment method signals: funding type and whether issuing, billing and IP countries agree."""

from __future__ import annotations

from dataclasses import dataclass

_FUNDING = frozenset({"credit", "debit", "prepaid", "unknown"})


@dataclass(frozen=True, slots=True)
class PaymentSignals:
    funding: str | None
    prepaid: bool
    issuing_country: str | None
    billing_country: str | None
    bin: str | None
    issuer_billing_mismatch: bool | None
    issuer_ip_mismatch: bool | None
    billing_ip_mismatch: bool | None
    fingerprint: str | None

    def as_dict(self) -> dict:
        # The fingerprint is a linking key: never output.
        return {
            "funding": self.funding,
            "prepaid": self.prepaid,
            "issuing_country": self.issuing_country,
            "billing_country": self.billing_country,
            "bin": self.bin,
            "issuer_billing_mismatch": self.issuer_billing_mismatch,
            "issuer_ip_mismatch": self.issuer_ip_mismatch,
            "billing_ip_mismatch": self.billing_ip_mismatch,
        }


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _country(value: str | None) -> str | None:
    value = _clean(value)
    return value.upper() if value and len(value) == 2 and value.isascii() and value.isalpha() else None


def _mismatch(a: str | None, b: str | None) -> bool | None:
    return None if a is None or b is None else a != b


def payment_signals(
    fingerprint: str | None,
    bin: str | None,
    funding: str | None,
    country: str | None,
    billing_country: str | None,
    ip_country: str | None,
) -> PaymentSignals | None:
    """None when no payment method was given at all. `ip_country` is context, not part
    of the payment method: on its own it does not make a payment signal."""
    fingerprint, bin, funding = _clean(fingerprint), _clean(bin), _clean(funding)
    if fingerprint is None and bin is None and funding is None and _clean(country) is None \
            and _clean(billing_country) is None:
        return None
    if funding is not None:
        funding = funding.lower()
        funding = funding if funding in _FUNDING else "unknown"
    issuing, billing, ip = _country(country), _country(billing_country), _country(ip_country)
    return PaymentSignals(
        funding=funding,
        prepaid=funding == "prepaid",
        issuing_country=issuing,
        billing_country=billing,
        # At most 8 digits: an issuer id, never enough of a card number to identify it.
        bin=bin[:8] if bin is not None and len(bin) >= 6 and bin.isascii() and bin.isdigit() else None,
        issuer_billing_mismatch=_mismatch(issuing, billing),
        issuer_ip_mismatch=_mismatch(issuing, ip),
        billing_ip_mismatch=_mismatch(billing, ip),
        fingerprint=fingerprint,
    )
