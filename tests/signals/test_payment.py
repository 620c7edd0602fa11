import json

import pytest

from riskengine.signals.payment import payment_signals


def pay(fingerprint="fp_Q2x", bin="424242", funding="credit", country="US", billing="US", ip="US"):
    return payment_signals(fingerprint, bin, funding, country, billing, ip)


def test_consistent_card():
    s = pay()
    assert ((s.funding, s.prepaid, s.issuing_country, s.billing_country, s.bin)
            == ("credit", False, "US", "US", "424242"))
    assert (s.issuer_billing_mismatch, s.issuer_ip_mismatch, s.billing_ip_mismatch) == (False, False, False)
    assert s.fingerprint == "fp_Q2x"


def test_mismatches():
    s = pay(country="US", billing="GB", ip="NG")
    assert (s.issuer_billing_mismatch, s.issuer_ip_mismatch, s.billing_ip_mismatch) == (True, True, True)
    s = pay(country="us", billing="GB", ip="gb")
    assert (s.issuer_billing_mismatch, s.issuer_ip_mismatch, s.billing_ip_mismatch) == (True, True, False)


def test_unknown_side_gives_none():
    s = pay(country=None, billing="GB", ip=None)
    assert (s.issuer_billing_mismatch, s.issuer_ip_mismatch, s.billing_ip_mismatch) == (None, None, None)
    s = pay(country="USA", billing="US", ip="US")  # not an alpha-2 code
    assert s.issuing_country is None and s.issuer_billing_mismatch is None and s.billing_ip_mismatch is False


@pytest.mark.parametrize("funding, expected", [
    ("prepaid", "prepaid"), ("PREPAID", "prepaid"), (" Debit ", "debit"), ("unknown", "unknown"),
    ("gift_card", "unknown"), (None, None), ("", None),
])
def test_funding(funding, expected):
    s = pay(funding=funding)
    assert s.funding == expected
    assert s.prepaid is (expected == "prepaid")


@pytest.mark.parametrize("bin, expected", [
    ("424242", "424242"), ("42424242", "42424242"), ("4242424242424242", "42424242"),
    ("4242", None), ("4242-42", None), ("abcdef", None), ("４２４２４２", None), (None, None),
])
def test_bin(bin, expected):
    assert pay(bin=bin).bin == expected


def test_absent_payment():
    assert payment_signals(None, None, None, None, None, None) is None
    assert payment_signals(None, None, None, None, None, "US") is None  # IP country is only context
    assert payment_signals("", " ", None, "", None, "US") is None


def test_partial_payment():
    s = payment_signals("fp_1", None, None, None, None, "US")
    assert (s.fingerprint, s.funding, s.prepaid, s.bin, s.issuer_ip_mismatch) == ("fp_1", None, False, None, None)


def test_as_dict_has_no_fingerprint():
    d = pay(funding="prepaid", billing="GB").as_dict()
    assert d == {"funding": "prepaid", "prepaid": True, "issuing_country": "US", "billing_country": "GB",
                 "bin": "424242", "issuer_billing_mismatch": True, "issuer_ip_mismatch": False,
                 "billing_ip_mismatch": True}
    assert "fp_Q2x" not in json.dumps(d)
