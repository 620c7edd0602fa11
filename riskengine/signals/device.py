"""Device signals: browser/OS family, automation markers, and whether the device's reported
time zone and languages fit the country of its IP address (judged in signals.locale)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse as _ua_parse

from riskengine.signals.automation import automation_signals
from riskengine.signals.device_token import TokenCheck, bot_verdict
from riskengine.signals.locale import language_matches, timezone_judgement

# Real user agents stay well under this; longer ones are cut so hostile input can neither
# slow the regexes down nor bloat the parse cache.
_MAX_UA = 1024


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
    # The collector's signed token (signals.device_token): "valid", "invalid", "expired", or
    # None when none was sent; and BotD's verdict, believed only from a valid token.
    token: str | None = None
    bot: bool | None = None
    bot_kind: str | None = None

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}   # flat: not asdict's deep copy of each value


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


def device_signals(
    user_agent: str | None,
    webdriver: bool | None,
    timezone: str | None,
    languages: list[str] | None,
    ip_country: str | None,
    token: TokenCheck | None = None,
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
    bot, bot_kind = bot_verdict(token.fields) if token is not None and token.valid else (None, None)
    country = ip_country.strip().upper() if ip_country else None
    tz_valid, tz_match, tz_generic = timezone_judgement(timezone.strip() if timezone else None, country)
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
        token=token.state if token is not None else None,
        bot=bot, bot_kind=bot_kind,
    )
