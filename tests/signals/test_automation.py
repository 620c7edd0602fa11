"""Automation kinds on real user agents: crawler-user-agents' own instances per tag, the default
UAs in tests/data/automation_probes.tsv, and zero false positives on real browsers (npm
user-agents' 10,000 weighted UAs shipped in tests/data, fake-useragent's data, and Matomo's
TV, console, car, desktop, in-app and native-app fixtures from the device-detector package).
scripts/corpus_automation.py prints the full figures."""
from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path

import pytest
import yaml
from crawleruseragents import CRAWLER_USER_AGENTS_DATA

from riskengine.signals.automation import (
    AUTOMATED_KINDS,
    KINDS,
    NATIVE_APP,
    AutomationSignals,
    automation_signals,
)

DATA = Path(__file__).resolve().parents[1] / "data"
# Matomo fixture files of clients that are people: every device type but phones and tablets
# (24,000 more UAs of the same shapes; the script covers them), plus in-app browsers and apps.
MATOMO_PEOPLE = ("tv", "console", "car_browser", "desktop", "mobile_apps", "podcasting", "clienthints",
                 "smart_display", "smart_speaker", "wearable", "feature_phone", "peripheral", "camera",
                 "portable_media_player", "smartphone-1", "tablet-1")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} (the test extra) is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def probes() -> list[tuple[str, str, str]]:
    lines = (DATA / "automation_probes.tsv").read_text("utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line and not line.startswith("#")]  # type: ignore[misc]


def kind(ua: str) -> str | None:
    return automation_signals(ua).kind


@pytest.mark.parametrize("tag, expected", [
    ("search-engine", "search_engine"), ("ai-crawler", "ai_crawler"), ("monitoring", "monitoring"),
    ("scanner", "scanner"), ("http-library", "http_library"), ("feed-reader", "crawler"), ("seo", "crawler"),
])
def test_crawler_list_tags_give_the_kind(tag, expected):
    """Single-tag entries of the list: nearly all of their instances get the tag's kind."""
    uas = [ua for e in CRAWLER_USER_AGENTS_DATA if e["tags"] == [tag] for ua in e["instances"]]
    got = [kind(ua) for ua in uas]
    assert len(uas) > 30 and got.count(expected) / len(uas) > 0.9, (tag, len(uas), got.count(expected))


@pytest.mark.parametrize("corpus, expected, ua",
                         [p for p in probes() if p[0] != "native_app"],
                         ids=lambda v: v[:60] if isinstance(v, str) else v)
def test_default_user_agents_of_automated_clients(corpus, expected, ua):
    """HTTP libraries and CLIs, headless tools, webdriver frameworks, AI agents and crawlers."""
    a = automation_signals(ua)
    assert (a.automated, a.kind) == (True, expected)


def test_every_kind_has_a_real_example():
    seen = {kind(ua) for _, _, ua in probes()} | {kind(ua) for e in CRAWLER_USER_AGENTS_DATA for ua in e["instances"]}
    assert set(KINDS) <= seen


@pytest.mark.parametrize("ua", [p[2] for p in probes() if p[0] == "native_app"])
def test_native_app_stacks_are_their_own_kind_not_automation(ua):
    a = automation_signals(ua)
    assert (a.kind, a.automated) == (NATIVE_APP, False)


def test_webdriver_flag_wins_over_the_user_agent():
    chrome = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Safari/537.36")
    assert automation_signals(chrome) == automation_signals(chrome, webdriver=False)
    assert automation_signals(chrome).automated is False
    assert automation_signals(chrome, webdriver=True) == AutomationSignals("webdriver", True)
    assert automation_signals(None, webdriver=True).automated
    assert automation_signals("").kind is None and automation_signals(None).automated is False


def test_long_user_agents_are_cut_before_matching():
    assert automation_signals("Mozilla/5.0 " + "x" * 5000 + " Googlebot/2.1").automated is False


def _false_positives(uas) -> list[tuple[str, str | None]]:
    found = [(ua, automation_signals(ua)) for ua in uas]
    return [(ua, a.kind) for ua, a in found if a.automated or (a.kind is not None and a.kind not in KINDS)]


def test_no_false_positive_on_npm_user_agents():
    """npm user-agents 2.1.198 (BSD-2-Clause): 10,000 real weighted browser UAs, 952 distinct."""
    rows = [line.split("\t", 1) for line in (DATA / "browser_user_agents.tsv").read_text("utf-8").splitlines()
            if line and not line.startswith("#")]
    assert sum(int(n) for n, _ in rows) == 10_000
    assert _false_positives(ua for _, ua in rows) == []


def test_no_false_positive_on_fake_useragent_browsers():
    """fake-useragent's browsers.jsonl (Apache-2.0): real desktop and mobile browser UAs."""
    lines = (_package_dir("fake_useragent") / "data" / "browsers.jsonl").read_text("utf-8").splitlines()
    uas = [json.loads(line)["useragent"] for line in lines if line]
    assert len(uas) > 5000 and _false_positives(uas) == []


def test_no_false_positive_on_tvs_consoles_cars_in_app_browsers_and_apps():
    """Matomo's fixtures (device-detector, LGPL-3.0) of browsers and mobile apps on TVs, consoles,
    cars, desktops, watches, speakers: none automated (native apps may be native_app)."""
    fixtures = _package_dir("device_detector") / "tests" / "fixtures" / "upstream"
    uas = []
    for stem in MATOMO_PEOPLE:
        for e in yaml.load((fixtures / f"{stem}.yml").read_text("utf-8"), Loader=yaml.CSafeLoader):
            client = e.get("client") if isinstance(e.get("client"), dict) else {}
            if "bot" not in e and client.get("type") in ("browser", "mobile app"):
                uas.append(e["user_agent"])
    app_kinds = {kind(ua) for ua in uas}
    assert len(uas) > 3000 and _false_positives(uas) == []
    assert app_kinds - {None} == {NATIVE_APP}


def test_automated_kinds_exclude_only_native_apps():
    assert set(KINDS) - set(AUTOMATED_KINDS) == {NATIVE_APP}


@pytest.mark.parametrize("ua", [
    # Real user agents from Matomo's fixtures that a list pattern or a bot word lands in.
    "Mozilla/5.0 (Linux; Android 8.1.0; XBot_Senior Build/O11019) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/65.0.3325.109 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Spider 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; TLA001 Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/80.0.3987.132 Safari/537.36 SogouMSE",
    "Podimo/1.20.1 build 148/Android 29",
    "WhatsApp/2.17.395 Android/6.0 Device/Meizu-M5_Note",
    "otg/1.5.1 (AppleTv Apple TV 4; tvOS16.2; appletv.client) libcurl/7.58.0 OpenSSL/1.0.2o zlib/1.2.11 clib/1.8.56",
])
def test_devices_and_apps_named_like_bots_are_not_automation(ua):
    assert automation_signals(ua).automated is False
