import zoneinfo

import pytest

from riskengine.signals.locale import (
    _zone_countries,
    language_matches,
    timezone_countries,
    timezone_judgement,
    windows_default_zones,
    zone_fits_country,
)
from riskengine.sim.geo import COUNTRIES


@pytest.mark.parametrize("tz, country", [
    ("Europe/Berlin", "AT"), ("Europe/Berlin", "IT"), ("Europe/Berlin", "CH"),
    ("Europe/Paris", "BE"), ("Europe/Paris", "DK"), ("Europe/Paris", "ES"),
    ("Asia/Shanghai", "HK"), ("America/New_York", "CA"),
])
def test_windows_default_zone_of_the_region_is_not_a_mismatch(tz, country):
    assert tz in windows_default_zones(country)
    assert timezone_judgement(tz, country) == (True, True, False)


@pytest.mark.parametrize("tz, country", [
    ("Asia/Tokyo", "DE"), ("America/New_York", "FR"), ("Europe/Berlin", "US"),
    ("Asia/Shanghai", "DE"), ("Europe/Moscow", "DE"), ("Europe/Berlin", "CN"),
    ("Asia/Kolkata", "GB"), ("Africa/Lagos", "DE"),  # same winter offset, no DST: another zone
])
def test_zone_of_another_region_is_still_a_mismatch(tz, country):
    assert timezone_judgement(tz, country) == (True, False, False)


def test_kosovo_uses_belgrade_time():
    assert timezone_judgement("Europe/Belgrade", "XK") == (True, True, False)
    assert language_matches(["sq-XK"], "XK") and language_matches(["sq"], "XK")


@pytest.mark.parametrize("tz", ["europe/berlin", "EUROPE/BERLIN", " Europe/Berlin "])
def test_zone_names_are_case_insensitive(tz):
    assert timezone_judgement(tz, "DE") == (True, True, False)


def test_unknown_and_generic_zones():
    assert timezone_judgement("Mars/Olympus", "US") == (False, None, None)
    assert timezone_judgement("etc/utc", "US") == (True, False, True)
    assert zone_fits_country("UTC", "US") is False
    assert zone_fits_country("Nowhere/X", "US") is None


def test_restricted_regions_see_the_ip_country_for_a_fitting_zone():
    assert timezone_countries("Asia/Shanghai", "HK") == {"HK"}
    assert timezone_countries("Asia/Shanghai", "DE") == {"CN"}
    assert timezone_countries("Asia/Shanghai") == {"CN"}
    assert timezone_countries("asia/shanghai") == {"CN"}
    assert timezone_countries("Etc/UTC", "US") == frozenset()


@pytest.mark.parametrize("country", ["NL", "DK", "SE", "IL", "AT", "FI", "DE", "BE", "CH"])
def test_english_is_no_mismatch_where_english_is_widely_used(country):
    assert language_matches(["en-US", "en"], country) is True


@pytest.mark.parametrize("languages, country", [
    (["ca"], "ES"), (["fy"], "NL"), (["ga"], "IE"), (["mt"], "MT"), (["lb"], "LU"),
    (["rm"], "CH"), (["sw"], "KE"), (["af"], "ZA"), (["mi"], "NZ"), (["hi"], "IN"),
])
def test_official_languages_match(languages, country):
    assert language_matches(languages, country) is True


@pytest.mark.parametrize("languages, country", [
    (["en-US", "en"], "JP"), (["en-US"], "CN"), (["en-US"], "RU"), (["en-US"], "BR"),
    (["de-DE", "de"], "FR"), (["fr"], "DE"), (["ru"], "JP"), (["zh-CN"], "BR"),
])
def test_language_not_widely_spoken_is_still_a_mismatch(languages, country):
    assert language_matches(languages, country) is False


@pytest.mark.parametrize("languages, country, matches", [
    (["zh-Hant-TW"], "TW", True), (["zh_CN"], "TW", True), (["es-419"], "MX", True),
    (["iw"], "IL", True), (["ja;q=0.9"], "JP", True), (["xx-ZZ"], "ZZ", True),
    (["xx"], "US", None), (["xx", "de"], "US", False), ([], "US", None), ([1, "en"], "US", True),
])
def test_language_tags(languages, country, matches):
    assert language_matches(languages, country) is matches


def test_shipped_zone_table_knows_every_system_zone():
    system = zoneinfo.available_timezones()
    if not system:
        pytest.skip("no tz database on this host")
    table = _zone_countries()
    missing = {z for z in system if z not in table and z not in ("localtime", "posixrules", "Factory")}
    assert not missing
    assert all(len(c) == 2 for codes in table.values() for c in codes)


def test_simulated_residents_fit_their_country():
    """The simulator's legitimate devices are judged by the same rules as real ones: every
    resident zone fits, and so does every locale but the one English-only mix it gives
    Indonesia on purpose (English is neither official nor spoken by a fifth there)."""
    misfits = set()
    for code, country in COUNTRIES.items():
        for city in country.cities:
            assert zone_fits_country(city.tz, code), (code, city.tz)
        misfits |= {(code, ls) for ls, _ in country.locales if not language_matches(list(ls), code)}
    assert misfits == {("ID", ("en-US", "en"))}


# ---- judged against all of CLDR (as Babel ships it: Unicode License v3), not a few examples
_OFFICIAL = {"official", "de_facto_official", "official_regional"}


def _territory_languages() -> dict:
    from babel.core import get_global
    return get_global("territory_languages")


def test_every_official_language_of_every_territory_matches():
    wrong = [(lang, c) for c, langs in _territory_languages().items() for lang, info in langs.items()
             if info.get("official_status") in _OFFICIAL and language_matches([lang.split("_")[0]], c) is not True]
    assert wrong == []


def test_english_matches_wherever_cldr_says_a_fifth_speak_it_and_not_where_few_do():
    widely, rarely = [], []
    for c, langs in _territory_languages().items():
        en = langs.get("en", {})
        share = en.get("population_percent") or 0.0
        judged = language_matches(["en-US", "en"], c)
        if share >= 20 and judged is not True:
            widely.append(c)
        if share < 10 and en.get("official_status") not in _OFFICIAL and judged is True:
            rarely.append(c)
    assert widely == [] and rarely == []


@pytest.mark.slow     # 110,000 judgements
def test_no_zone_of_another_continent_matches_and_every_spelling_of_a_zone_is_valid():
    zones = {z: c for z, c in _zone_countries().items() if c}
    areas: dict[str, set[str]] = {}
    for z, countries in zones.items():
        for c in countries:
            areas.setdefault(c, set()).add(z.split("/")[0])
    leaked = [(z, c) for c, own in areas.items() for z in zones
              if z.split("/")[0] not in own and timezone_judgement(z, c)[1] is True]
    assert leaked == []
    for z, countries in zones.items():
        c = next(iter(countries))
        assert timezone_judgement(z.lower(), c)[0] is True and timezone_judgement(z.upper(), c)[0] is True, z
