import json

import pytest
from phonenumbers import PhoneNumberType

from riskengine.signals.phone import _LINE_TYPES, phone_signals

CONTRACT_LINE_TYPES = {
    "mobile", "fixed_line", "fixed_line_or_mobile", "voip", "toll_free", "premium_rate",
    "shared_cost", "personal_number", "pager", "uan", "voicemail", "unknown",
}


@pytest.mark.parametrize("raw, country, line_type, e164", [
    ("+1 415 555 2671", "US", "fixed_line_or_mobile", "+14155552671"),  # NANP: no split
    ("+447400123456", "GB", "mobile", "+447400123456"),
    ("+44 20 7183 8750", "GB", "fixed_line", "+442071838750"),
    ("+445600123456", "GB", "voip", "+445600123456"),
    ("+49 800 1234567", "DE", "toll_free", "+498001234567"),
    ("+1 900 555 0123", "US", "premium_rate", "+19005550123"),
    ("+33 6 12 34 56 78", "FR", "mobile", "+33612345678"),
    ("+1 800 FLOWERS", "US", "toll_free", "+18003569377"),     # vanity letters
])
def test_valid_numbers(raw, country, line_type, e164):
    s = phone_signals(raw, None)
    assert (s.valid, s.possible, s.country, s.line_type, s.e164) == (True, True, country, line_type, e164)


@pytest.mark.parametrize("region", ["GB", "gb", " GB "])
def test_national_format_uses_default_region(region):
    s = phone_signals("020 7183 8750", region)
    assert (s.valid, s.country, s.line_type, s.e164) == (True, "GB", "fixed_line", "+442071838750")


def test_international_format_ignores_default_region():
    assert phone_signals("+447400123456", "US").country == "GB"


def test_non_geographic_number_has_no_country():
    s = phone_signals("+800 1234 5678", None)
    assert (s.valid, s.country, s.line_type) == (True, None, "toll_free")


def test_possible_but_invalid():
    s = phone_signals("+441234", None)
    assert (s.valid, s.possible, s.country, s.line_type, s.e164) == (False, True, None, "unknown", "+441234")


def test_impossible_number_is_not_a_linking_key():
    s = phone_signals("12345", "US")
    assert (s.valid, s.possible, s.line_type, s.e164) == (False, False, "unknown", None)


@pytest.mark.parametrize("raw, region", [
    ("garbage", None), ("020 7183 8750", None), ("020 7183 8750", "XX"), ("1" * 300, None),
    ("+", None), ("++44", "GB"), ("+44 7400 123456" + "9" * 60, None), ("ｱｲｳ", "JP"), ("\x00", "US"),
])
def test_unparsable_never_raises(raw, region):
    s = phone_signals(raw, region)
    assert (s.valid, s.possible, s.country, s.line_type, s.e164) == (False, False, None, "unknown", None)


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_absent(raw):
    assert phone_signals(raw, "US") is None


def test_as_dict_has_no_e164():
    d = phone_signals("+447400123456", None).as_dict()
    assert d == {"valid": True, "possible": True, "country": "GB", "line_type": "mobile"}
    json.dumps(d)


def test_every_libphonenumber_type_maps_to_a_contract_value():
    types = {v for k, v in vars(PhoneNumberType).items() if k.isupper()}
    assert set(_LINE_TYPES) == types
    assert set(_LINE_TYPES.values()) == CONTRACT_LINE_TYPES
