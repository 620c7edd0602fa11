import json

import pytest

from riskengine.signals.device import _parse_ua, device_signals

CHROME_MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")
HEADLESS = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.6099.109 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")


def dev(ua=CHROME_MAC, webdriver=False, tz=None, languages=None, country=None):
    return device_signals(ua, webdriver, tz, languages, country)


def test_desktop_browser():
    s = dev()
    assert (s.browser, s.browser_major, s.os) == ("Chrome", 131, "Mac OS X")
    assert (s.automation, s.automation_kind, s.ua_missing) == (False, None, False)


def test_mobile_browser():
    s = dev(IPHONE)
    assert (s.browser, s.browser_major, s.os, s.automation) == ("Mobile Safari", 17, "iOS", False)


def test_headless_chrome():
    s = dev(HEADLESS)
    assert (s.browser, s.browser_major, s.os) == ("HeadlessChrome", 120, "Linux")
    assert (s.automation, s.automation_kind) == (True, "headless")


@pytest.mark.parametrize("ua, browser, kind", [
    ("python-requests/2.31.0", "Python Requests", "http_library"),
    ("curl/8.4.0", "curl", "http_library"),
    ("Go-http-client/2.0", "Go-http-client", "http_library"),
    ("Apache-HttpClient/4.5.13 (Java/11.0.16)", "Apache-HttpClient", "http_library"),
    ("python-httpx/0.26.0", "Other", "http_library"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot", "search_engine"),
])
def test_automated_clients_carry_their_kind(ua, browser, kind):
    """signals.automation decides (its own tests hold the corpora); device keeps the bool and the kind."""
    s = dev(ua)
    assert (s.browser, s.automation, s.automation_kind) == (browser, True, kind)


def test_native_app_stack_is_a_kind_but_not_automation():
    s = dev("okhttp/4.12.0")
    assert (s.browser, s.automation, s.automation_kind) == ("okhttp", False, "native_app")


def test_phantomjs_is_headless():
    s = dev("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1")
    assert (s.browser, s.automation_kind) == ("PhantomJS", "headless")


@pytest.mark.parametrize("marker", ["Selenium", "Puppeteer", "Playwright/1.40"])
def test_automation_framework_markers(marker):
    s = dev(CHROME_MAC + " " + marker)
    assert (s.browser, s.automation_kind) == ("Chrome", "webdriver")


def test_navigator_webdriver_wins():
    assert dev(CHROME_MAC, webdriver=True).automation_kind == "webdriver"
    assert dev(HEADLESS, webdriver=True).automation_kind == "webdriver"
    assert dev(None, webdriver=True).automation_kind == "webdriver"
    assert dev(CHROME_MAC, webdriver=None).automation is False


@pytest.mark.parametrize("ua", [None, "", "   "])
def test_missing_user_agent(ua):
    s = dev(ua)
    assert (s.browser, s.browser_major, s.os, s.ua_missing, s.automation) == (None, None, None, True, False)


def test_unrecognised_user_agent():
    s = dev("garbage")
    assert (s.browser, s.browser_major, s.os, s.ua_missing, s.automation) == ("Other", None, "Other", False, False)


def test_huge_user_agent_is_cut_and_parsed():
    s = dev(CHROME_MAC + " x" * 100_000)
    assert (s.browser, s.browser_major) == ("Chrome", 131)


def test_parse_results_are_cached():
    ua = CHROME_MAC.replace("131.0.0.0", "131.0.4242.0")
    before = _parse_ua.cache_info().hits
    dev(ua)
    dev(ua)
    assert _parse_ua.cache_info().hits == before + 1


@pytest.mark.parametrize("tz, country, valid, matches, generic", [
    ("America/Los_Angeles", "US", True, True, False),
    ("America/Los_Angeles", "us", True, True, False),
    ("Asia/Tokyo", "FR", True, False, False),
    ("Europe/Berlin", "SE", True, True, False),     # zone1970.tab: Berlin's rules cover SE
    ("Europe/Copenhagen", "DK", True, True, False),
    ("Asia/Calcutta", "IN", True, True, False),      # old name Chrome still reports
    ("Europe/Kiev", "UA", True, True, False),
    ("Asia/Harbin", "CN", True, True, False),
    ("US/Pacific", "US", True, True, False),
    ("UTC", "US", True, False, True),                # generic zones count as a mismatch
    ("Etc/GMT+5", "US", True, False, True),
    ("EST5EDT", "US", True, False, True),
    ("Mars/Olympus", "US", False, None, None),       # unknown name: valid=False says it all
    ("america/los_angeles", "US", True, True, False),   # case-insensitive (signals.locale)
    ("Europe/London", None, True, None, False),
    (None, "US", None, None, None),
    ("", "US", None, None, None),
])
def test_timezone_against_ip_country(tz, country, valid, matches, generic):
    s = dev(tz=tz, country=country)
    assert (s.timezone_valid, s.timezone_matches_ip, s.timezone_generic) == (valid, matches, generic)


@pytest.mark.parametrize("languages, country, matches", [
    (["en-US", "en"], "US", True),
    (["en"], "NG", True),                 # official language
    (["de-DE", "de"], "FR", False),
    (["en-GB"], "CN", False),
    (["de-CH"], "CH", True),
    (["fr"], "CA", True),
    (["zh-Hant-TW"], "TW", True),
    (["zh_CN"], "TW", True),               # Chinese is a language of TW
    (["es-419"], "MX", True),              # numeric region ignored, Spanish is MX's language
    (["pt_BR"], "BR", True),
    (["iw"], "IL", True),                  # legacy code for Hebrew
    (["ja;q=0.9"], "JP", True),
    (["en-US"], "JP", False),
    (["xx-ZZ"], "ZZ", True),               # region match needs no table entry
    (["xx"], "US", None),                  # language we know nothing about: no judgement
    (["xx", "de"], "US", False),
    ([], "US", None),
    (["en"], None, None),
])
def test_languages_against_ip_country(languages, country, matches):
    assert dev(languages=languages, country=country).language_matches_ip is matches


def test_languages_count():
    assert dev(languages=["en-US", "en", "fr"]).languages_count == 3
    assert dev(languages=[]).languages_count == 0
    assert dev(languages=None).languages_count is None


def test_as_dict_is_json_safe():
    d = dev(HEADLESS, tz="UTC", languages=["en-US"], country="US").as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["browser"] == "HeadlessChrome" and d["automation"] is True
    assert d["timezone_matches_ip"] is False
