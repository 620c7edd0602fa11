"""Device signals: browser/OS family, automation markers, and whether the device's reported
time zone and languages fit the country of its IP address (judged in signals.locale)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from ua_parser import parse as _ua_parse

from riskengine.signals.locale import language_matches, timezone_judgement

# Real user agents stay well under this; longer ones are cut so hostile input can neither
# slow the regexes down nor bloat the parse cache.
_MAX_UA = 1024

# ua-parser families of HTTP libraries and command-line tools (not browsers). okhttp/Java
# are also what a native Android app's own HTTP stack sends: callers with native apps
# should forward a UA that names the app, or expect these to read as automation.
_SCRIPT_FAMILIES = frozenset({
    "Python Requests", "Python aiohttp", "Python-urllib", "curl", "Wget", "Go-http-client",
    "okhttp", "axios", "Java", "Apache-HttpClient", "libwww-perl", "PostmanRuntime", "Scrapy",
})
# Substrings (lowercase) of clients ua-parser does not name, or names as something else.
_SCRIPT_MARKERS = (
    "python-requests", "python-httpx", "aiohttp", "python-urllib", "curl/", "wget/",
    "go-http-client", "okhttp", "axios/", "node-fetch", "undici", "java/", "apache-httpclient",
    "libwww-perl", "scrapy", "postmanruntime", "guzzlehttp", "dart:io", "httpie", "restsharp",
)
_HEADLESS_FAMILIES = frozenset({"HeadlessChrome", "PhantomJS"})
_HEADLESS_MARKERS = ("headless", "phantomjs", "slimerjs")
# Browser-automation frameworks sometimes leave their name in the UA of a driven browser.
_DRIVER_MARKERS = ("selenium", "webdriver", "puppeteer", "playwright")


@dataclass(frozen=True, slots=True)
class DeviceSignals:
    browser: str | None
    browser_major: int | None
    os: str | None
    automation: bool
    automation_kind: str | None
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
def _parse_ua(ua: str) -> tuple[str, int | None, str, str | None]:
    """(browser family, major version, OS family, automation kind from the UA alone).
    Cached: the same few thousand user agents make up nearly all traffic."""
    r = _ua_parse(ua)
    # "Other" (ua-parser's own word) = a UA was sent but names no known browser/OS;
    # None is kept for "no UA at all".
    browser = r.user_agent.family if r.user_agent else "Other"
    major = r.user_agent.major if r.user_agent else None
    os_family = r.os.family if r.os else "Other"
    low = ua.lower()
    if any(m in low for m in _DRIVER_MARKERS):
        kind = "webdriver"
    elif browser in _HEADLESS_FAMILIES or any(m in low for m in _HEADLESS_MARKERS):
        kind = "headless"
    elif (browser in _SCRIPT_FAMILIES or any(m in low for m in _SCRIPT_MARKERS)
          or (r.device is not None and r.device.family == "Spider")):
        # "Spider" is ua-parser's device family for crawlers and other declared bots.
        kind = "script_client"
    else:
        kind = None
    return browser, int(major) if major and major.isdigit() else None, os_family, kind


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
    kind: str | None
    if ua:
        browser, major, os_family, kind = _parse_ua(ua)
    else:
        browser = major = os_family = kind = None
    if webdriver is True:
        kind = "webdriver"  # navigator.webdriver: the browser says it is remote-controlled
    country = ip_country.strip().upper() if ip_country else None
    tz_valid, tz_match, tz_generic = timezone_judgement(timezone.strip() if timezone else None, country)
    return DeviceSignals(
        browser=browser,
        browser_major=major,
        os=os_family,
        automation=kind is not None,
        automation_kind=kind,
        ua_missing=not ua,
        timezone_valid=tz_valid,
        timezone_matches_ip=tz_match,
        language_matches_ip=language_matches(languages, country) if languages and country else None,
        languages_count=len(languages) if languages is not None else None,
        timezone_generic=tz_generic,
    )
