"""Locale signals: whether a device's reported time zone and languages fit the country of its
IP address. Languages and Windows zones come from CLDR through Babel; zone -> countries from
the IANA tz database (riskengine/data/timezones.tsv)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources

from babel.core import get_global

# ISO 639 codes replaced long ago that old platforms still send.
_LEGACY_LANG = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv"}

# A language fits a country when it is official there (also regionally or de facto) or at
# least this share of the population speaks it (CLDR territory data). 20% takes in English
# in the countries where English UIs are common (NL 90, DK/SE 86, IL 85, AT 73, FI 70, DE 64,
# BE 59, CH 45, FR 39, IT 34, PL 33, ES 24) and leaves out languages only a minority knows
# (de in FR 5, fr in DE 18, en in TR 17, MX 13, BR 8, RU 3.8, JP/KR/CN ~0).
WIDELY_SPOKEN_PERCENT = 20.0
_OFFICIAL = frozenset({"official", "de_facto_official", "official_regional"})

# IANA gives Kosovo no zone of its own (XK is a user-assigned ISO code); it keeps Serbia's time.
_EXTRA_ZONE_COUNTRIES = {"Europe/Belgrade": "XK"}


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, frozenset[str]]:
    """IANA zone or link name -> countries using it; shipped (riskengine/data/timezones.tsv)
    so the answer does not depend on the host's tzdata, which slim images lack."""
    text = resources.files("riskengine").joinpath("data", "timezones.tsv").read_text("utf-8")
    table = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, codes = line.partition("\t")
            table[name] = frozenset(codes.split(",")) if codes else frozenset()
    for name, country in _EXTRA_ZONE_COUNTRIES.items():
        table[name] = table[name] | {country}
    return table


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Lower-case zone name -> its spelling in the table: some clients lower-case it."""
    return {name.lower(): name for name in _zone_countries()}


def _zone(tz: str) -> str | None:
    return _zone_names().get(tz.strip().lower())


@lru_cache(maxsize=1)
def _windows_defaults() -> frozenset[str]:
    """The zones Windows reports for each of its own zones (CLDR windowsZones, territory 001).
    A PC whose region setting is not its country's gets these: an Austrian PC set to
    "W. Europe Standard Time" reports Europe/Berlin, a Hong Kong one Asia/Shanghai."""
    return frozenset(z for z in get_global("windows_zone_mapping").values()
                     if _zone_countries().get(z))


@lru_cache(maxsize=4096)
def _offsets(zone: str) -> tuple[str, float | None, float | None]:
    """(area, UTC offset in January, in July) this year: Windows zones are told apart by
    their offsets and DST rules, so two zones with the same ones are one Windows zone."""
    year = datetime.now(UTC).year
    try:
        info = zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zone.split("/", 1)[0], None, None
    jan, jul = (datetime(year, m, 15, 12, tzinfo=info).utcoffset() for m in (1, 7))
    return (zone.split("/", 1)[0], jan.total_seconds() if jan is not None else None,
            jul.total_seconds() if jul is not None else None)


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for zone, countries in _zone_countries().items():
        for c in countries:
            out.setdefault(c, set()).add(zone)
    return {c: frozenset(z) for c, z in out.items()}


def windows_default_zones(country: str) -> frozenset[str]:
    """Windows default zones a PC in `country` may report: those in the same area (Europe,
    America, ...) with the same offsets as one of the country's own zones."""
    own = {_offsets(z) for z in _country_zones().get(country, ())}
    return frozenset(z for z in _windows_defaults() if _offsets(z) in own and None not in _offsets(z))


def zone_fits_country(tz: str | None, country: str | None) -> bool | None:
    """True when the zone is used in the country or is its Windows default; None when the
    zone is unknown or there is no country; False for generic zones (UTC, Etc/*)."""
    zone = _zone(tz) if tz else None
    if zone is None or not country:
        return None
    countries = _zone_countries()[zone]
    if not countries:
        return False
    return country in countries or zone in windows_default_zones(country)


def timezone_countries(tz: str | None, ip_country: str | None = None) -> frozenset[str]:
    """Countries whose people use this zone (empty for unknown or generic zones). A zone that
    fits the IP's country (its own or its Windows default) stands for that country alone:
    the browser default of a Hong Kong PC names no Chinese region."""
    zone = _zone(tz) if tz else None
    if zone is None:
        return frozenset()
    if ip_country and zone_fits_country(zone, ip_country):
        return frozenset((ip_country,))
    return _zone_countries()[zone]


def timezone_judgement(tz: str | None, country: str | None) -> tuple[bool | None, bool | None, bool | None]:
    """(valid, matches_ip, generic). A generic zone (UTC, Etc/*) counts as a MISMATCH: no
    country's users get it from their OS by default, but servers, containers and headless
    automation do; `timezone_generic` lets the model tell this case from a wrong country.
    An unknown zone name gives matches=None: timezone_valid=False already says it."""
    if not tz:
        return None, None, None
    zone = _zone(tz)
    if zone is None:
        return False, None, None
    generic = not _zone_countries()[zone]
    if country is None:
        return True, None, generic
    return True, bool(zone_fits_country(zone, country)), generic


@lru_cache(maxsize=1)
def _language_countries() -> dict[str, frozenset[str]]:
    """Primary language -> countries where it is official or widely spoken (CLDR)."""
    out: dict[str, set[str]] = {}
    for country, languages in get_global("territory_languages").items():
        for lang, info in languages.items():
            if (info.get("official_status") in _OFFICIAL
                    or (info.get("population_percent") or 0) >= WIDELY_SPOKEN_PERCENT):
                out.setdefault(lang.split("_", 1)[0], set()).add(country)
    return {k: frozenset(v) for k, v in out.items()}


@lru_cache(maxsize=1)
def _known_languages() -> frozenset[str]:
    return frozenset(lang.split("_", 1)[0] for languages in get_global("territory_languages").values()
                     for lang in languages)


def _language_tag(tag: str) -> tuple[str, str | None]:
    """BCP 47 tag ("zh-Hant-TW", "en_US", "es-419;q=0.8") -> (primary language, region)."""
    parts = tag.split(";", 1)[0].strip().replace("_", "-").split("-")
    primary = parts[0].lower()
    primary = _LEGACY_LANG.get(primary, primary)
    # The region is the first 2-letter subtag after the language (scripts have 4 letters;
    # numeric UN regions such as 419 name no single country).
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    return primary, region


def language_matches(languages: list[str], country: str) -> bool | None:
    """True when any language names `country` as its region or is official or widely spoken
    there; None when no tag could be judged (unknown language, no region)."""
    table = _language_countries()
    judged = False
    for tag in languages:
        if not isinstance(tag, str):
            continue
        primary, region = _language_tag(tag)
        if region == country or country in table.get(primary, ()):
            return True
        judged = judged or region is not None or primary in _known_languages()
    return False if judged else None
