"""Device signals: browser/OS family, automation markers, and whether the device's reported
time zone and languages fit the country of its IP address."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources

from ua_parser import parse as _ua_parse

from riskengine.signals.automation import automation_signals

# Real user agents stay well under this; longer ones are cut so hostile input can neither
# slow the regexes down nor bloat the parse cache.
_MAX_UA = 1024

# ISO 639 codes replaced long ago that old platforms still send.
_LEGACY_LANG = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv"}


@dataclass(frozen=True, slots=True)
class DeviceSignals:
    browser: str | None
    browser_major: int | None
    os: str | None
    automation: bool              # a bot, script or driven browser
    automation_kind: str | None   # signals.automation.KINDS; native_app is a kind but not automation
    ua_missing: bool
    timezone_valid: bool | None
    timezone_matches_ip: bool | None
    language_matches_ip: bool | None
    languages_count: int | None
    # Added: True for zones no country uses as its civil time (UTC, Etc/*, GMT, legacy
    # CET/EST5EDT...), typical of servers, VMs and headless automation.
    timezone_generic: bool | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=10_000)
def _parse_ua(ua: str) -> tuple[str, int | None, str]:
    """(browser family, major version, OS family). Cached: the same few thousand user agents
    make up nearly all traffic."""
    r = _ua_parse(ua)
    # "Other" (ua-parser's own word) = a UA was sent but names no known browser/OS;
    # None is kept for "no UA at all".
    browser = r.user_agent.family if r.user_agent else "Other"
    major = r.user_agent.major if r.user_agent else None
    os_family = r.os.family if r.os else "Other"
    return browser, int(major) if major and major.isdigit() else None, os_family


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
    return table


@lru_cache(maxsize=1)
def _language_countries() -> dict[str, frozenset[str]]:
    text = resources.files("riskengine").joinpath("data", "language_countries.json").read_text("utf-8")
    return {k: frozenset(v) for k, v in json.loads(text).items() if not k.startswith("_")}


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
    """True when any language names `country` as its region or is an official/major
    language there; None when no tag could be judged (unknown language, no region)."""
    table = _language_countries()
    judged = False
    for tag in languages:
        if not isinstance(tag, str):
            continue
        primary, region = _language_tag(tag)
        if region == country:
            return True
        countries = table.get(primary)
        if countries is not None and country in countries:
            return True
        judged = judged or region is not None or countries is not None
    return False if judged else None


def timezone_countries(tz: str | None) -> frozenset[str]:
    """Countries whose people use this zone (empty for unknown or generic zones)."""
    return _zone_countries().get(tz.strip(), frozenset()) if tz else frozenset()


def _timezone(tz: str | None, country: str | None) -> tuple[bool | None, bool | None, bool | None]:
    """(valid, matches_ip, generic). A generic zone (UTC, Etc/*) counts as a MISMATCH: no
    country's users get it from their OS by default, but servers, containers and headless
    automation do; `timezone_generic` lets the model tell this case from a wrong country.
    An unknown zone name gives matches=None: timezone_valid=False already says it."""
    if not tz:
        return None, None, None
    countries = _zone_countries().get(tz)  # case-sensitive, as browsers report it
    if countries is None:
        return False, None, None
    generic = not countries
    if country is None:
        return True, None, generic
    return True, (not generic and country in countries), generic


def device_signals(
    user_agent: str | None,
    webdriver: bool | None,
    timezone: str | None,
    languages: list[str] | None,
    ip_country: str | None,
) -> DeviceSignals:
    ua = user_agent.strip()[:_MAX_UA] if user_agent else ""
    browser: str | None
    major: int | None
    os_family: str | None
    if ua:
        browser, major, os_family = _parse_ua(ua)
    else:
        browser = major = os_family = None
    automation = automation_signals(ua, webdriver)
    country = ip_country.strip().upper() if ip_country else None
    tz_valid, tz_match, tz_generic = _timezone(timezone.strip() if timezone else None, country)
    return DeviceSignals(
        browser=browser,
        browser_major=major,
        os=os_family,
        automation=automation.automated,
        automation_kind=automation.kind,
        ua_missing=not ua,
        timezone_valid=tz_valid,
        timezone_matches_ip=tz_match,
        language_matches_ip=language_matches(languages, country) if languages and country else None,
        languages_count=len(languages) if languages is not None else None,
        timezone_generic=tz_generic,
    )
