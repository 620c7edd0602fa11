import json

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

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


# Numbers from libphonenumber's own example set (phonenumbers.example_number_for_type), written
# nationally with their region declared: the calling code is shared, the declared region wins.
@pytest.mark.parametrize("raw, region, line_type", [
    ("(800) 212-3456", "CA", "toll_free"),        # NANP toll-free: region_code_for_number says US
    ("041 2345678", "AX", "mobile"),              # Åland shares +358 with Finland
    ("07924 123456", "IM", "mobile"),             # Isle of Man shares +44 with GB
    ("8 (800) 123-45-67", "KZ", "toll_free"),     # Kazakhstan shares +7 (and 8-800) with Russia
    ("312 345 6789", "VA", "mobile"),             # Vatican shares +39 with Italy
    ("0412 345 678", "CX", "mobile"),             # Christmas Island shares +61 with Australia
])
def test_declared_country_wins_when_the_number_is_valid_there(raw, region, line_type):
    s = phone_signals(raw, region)
    assert (s.valid, s.country, s.line_type) == (True, region, line_type)


def test_declared_country_loses_when_the_number_is_not_valid_there():
    assert phone_signals("+1 415 555 2671", "CA").country == "US"   # 415 is San Francisco
    assert phone_signals("+7 495 123 4567", "KZ").country == "RU"   # 495 is Moscow


def test_every_libphonenumber_example_number_gets_its_region():
    types = [v for k, v in vars(PhoneNumberType).items() if k.isupper() and k != "UNKNOWN"]
    wrong, total = [], 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in types:
            num = phonenumbers.example_number_for_type(region, kind)
            if num is None:
                continue
            total += 1
            raw = phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL)
            s = phone_signals(raw, region)
            if s.country != region or s.e164 != phonenumbers.format_number(num, PhoneNumberFormat.E164):
                wrong.append((region, raw, s.country, s.e164))
    assert total > 1000 and wrong == []


@pytest.mark.parametrize("raw, region, e164", [
    ("0061412345678", "AU", "+61412345678"),      # "00" where AU's own prefix is 0011
    ("0011 61 412 345 678", "AU", "+61412345678"),
    ("00 852 2123 4567", "HK", "+85221234567"),   # HK's "00[126-9]" carrier prefix read it as +52
    ("011 44 20 7946 0958", "US", "+442079460958"),
    ("810 44 20 7946 0958", "RU", "+442079460958"),
    ("010 44 20 7946 0958", "JP", "+442079460958"),
    ("0044 20 7946 0958", None, "+442079460958"),  # no region: "00" is international
    ("(00) 44 20 7946-0958", None, "+442079460958"),
    ("00 61 412 345 678", "GB", "+61412345678"),
])
def test_international_prefixes(raw, region, e164):
    s = phone_signals(raw, region)
    assert (s.valid, s.e164) == (True, e164)


def test_the_linking_key_is_one_spelling_of_the_number():
    spellings = ["+61 412 345 678", "0412 345 678", "0061 412 345 678", "0011 61 412 345 678",
                 "+61 (0)412 345 678", "+61412345678"]
    assert {phone_signals(raw, "AU").e164 for raw in spellings} == {"+61412345678"}


def test_national_number_starting_00_without_a_calling_code_stays_national():
    assert phone_signals("00", "GB").e164 is None


@pytest.mark.parametrize("dialling_from", ["US", "AU", "RU", "JP", "HK", "BR", "KR", "GB"])
def test_every_example_number_dialled_from_abroad_gets_its_e164(dialling_from):
    # the region's own prefix (011, 0011, 8~10, 010, 001/00[1-9] carrier codes...) and "00"
    wrong, total = [], 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in [v for k, v in vars(PhoneNumberType).items() if k.isupper() and k != "UNKNOWN"]:
            num = phonenumbers.example_number_for_type(region, kind)
            if num is None or num.country_code == phonenumbers.country_code_for_region(dialling_from):
                continue
            e164 = phonenumbers.format_number(num, PhoneNumberFormat.E164)
            for written in (phonenumbers.format_out_of_country_calling_number(num, dialling_from), "00" + e164[1:]):
                total += 1
                if phone_signals(written, dialling_from).e164 != e164:
                    wrong.append(written)
    assert total > 2000 and wrong == []
