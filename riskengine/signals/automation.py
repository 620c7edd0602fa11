"""Automation signals: whether a client is a bot, a script or a driven browser, and which kind.

Declared crawlers and bots come from maintained data, the `crawler-user-agents` package
(monperrus/crawler-user-agents, MIT): a dependency bump brings new bots, no hand list here.
Its tags give the kind. What that list does not cover is written here as product-token rules:
the default user agents of HTTP libraries and command-line clients, headless browsers and
test tools, browser-automation frameworks, AI agents' browsers, and native mobile apps' HTTP
stacks (okhttp, Dart, CFNetwork), which are a kind of their own and not automation.

The measure is zero false positives on real browsers, in-app browsers, webviews, TVs and
consoles (scripts/corpus_automation.py counts them): a list pattern that lands inside a
browser's user agent counts only when the user agent also reads as a bot (see
`_listed_kind`), because a few of the list's patterns are also words of browsers and apps
(Sogou, Viber, WhatsApp, a phone's build number)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawleruseragents import CRAWLER_USER_AGENTS_DATA

SEARCH_ENGINE = "search_engine"
AI_CRAWLER = "ai_crawler"
AI_AGENT = "ai_agent"
MONITORING = "monitoring"
SCANNER = "scanner"
CRAWLER = "crawler"            # other declared bots: SEO, ads, link previews, feeds, archives
HTTP_LIBRARY = "http_library"  # HTTP libraries, command-line clients, API tools, scrapers
HEADLESS = "headless"
WEBDRIVER = "webdriver"
NATIVE_APP = "native_app"      # a native app's own HTTP stack: a person's app, not a bot

# Bots that say what they are in their user agent (the crawler list's kinds and self-named bots).
DECLARED_BOT_KINDS = (SEARCH_ENGINE, AI_CRAWLER, MONITORING, SCANNER, CRAWLER)
AUTOMATED_KINDS = (SEARCH_ENGINE, AI_CRAWLER, AI_AGENT, MONITORING, SCANNER, CRAWLER, HTTP_LIBRARY,
                   HEADLESS, WEBDRIVER)
KINDS = (*AUTOMATED_KINDS, NATIVE_APP)

# Real user agents stay well under this; longer ones are cut so hostile input can neither
# slow the regexes down nor bloat the cache.
_MAX_UA = 1024


@dataclass(frozen=True, slots=True)
class AutomationSignals:
    kind: str | None     # one of KINDS, None for a browser (or nothing recognised)
    automated: bool      # a bot, script or driven browser (every kind but native_app)


_NONE = AutomationSignals(None, False)


def _rule(*tokens: str, flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile("|".join(tokens), flags)


# The rules start with literals, not \b: Python's re then scans for the literal prefixes, about
# 50x faster on the browser UAs that make up most traffic.
# Browser-automation frameworks that leave their name in the UA of the browser they drive.
_WEBDRIVER = _rule(r"selenium", r"webdriver", r"puppeteer", r"playwright")
_HEADLESS = _rule(
    r"headless", r"phantomjs", r"slimerjs", r"jsdom/", r"splash Version/", r"Cypress/", r"Zombie\.js",
    r"Chrome-Lighthouse", r"HtmlUnit", r"Ghost Inspector", r"wkhtmlto(?:pdf|image)", r"Prerender\b",
    r"Rendertron\b",
)
# AI agents' browsers and fetchers acting for a person right now (not training crawlers).
_AI_AGENT = _rule(
    r"Amazon-Bedrock-AgentCore-Browser", r"GoogleAgent-[\w-]+", r"Google-Agent\b", r"Google-Gemini-CLI",
    r"Gemini-Deep-Research", r"ChatGPT-User\b", r"ChatGPT Agent\b", r"Claude-User\b",
    r"claude-cli/", r"claude-code/", r"Perplexity-?User\b", r"MistralAI-User\b", r"Amzn-User\b",
    r"Manus-User\b", r"Devin/", r"NovaAct\b", r"AmazonBuyForMe\b", r"browser-use\b",
    flags=0,
)
# Load testers and synthetic monitors the list lacks: WebPageTest's agent drives a real Chrome
# and appends PTST/ to its UA; ApacheBench; Route 53's health checks.
_MONITOR = _rule(r"PTST/\d", r"ApacheBench/", r"Amazon[- ]Route ?53[- ]Health[- ]Check", flags=0)
# Native mobile apps' HTTP stacks (Android okhttp and Dalvik, Flutter/Dart, iOS CFNetwork).
_NATIVE_APP = _rule(r"^okhttp/", r"^Dart/[\d.]+ \(dart:io\)", r"^Dalvik/", r"CFNetwork/[\d.]+ Darwin/",
                    r"Alamofire/", flags=0)
# Default user agents of HTTP libraries and command-line clients that the list lacks; most are
# "Product/version" at the start, which no browser sends.
_HTTP_LIBRARY = _rule(
    r"^(?:Java-http-client|Java|Apache-HttpClient|Apache-HttpAsyncClient|Jakarta Commons-HttpClient|"
    r"ReactorNetty|Vert\.x-WebClient|AHC|Go-http-client|fasthttp|go-resty|colly|"
    r"python-requests|python-httpx|Python-urllib|python-urllib3|Python-httplib2|aiohttp|httpx|PycURL|"
    r"Scrapy|Deno|Bun|node|node-fetch|undici|axios|superagent|"
    r"Ruby|rest-client|Faraday|HTTPClient|http\.rb|Typhoeus|Mechanize|WWW-Mechanize|"
    r"HTTP-Tiny|libwww-perl|lwp-request|LWP::Simple|Mojolicious|GuzzleHttp|Symfony HttpClient|"
    r"RestSharp|curl|Wget|wget2|aria2|HTTPie|xh|PostmanRuntime|insomnia|"
    r"reqwest|ureq|isahc|libcurl|WinHttp|cpp-httplib|unirest-java|hackney|HTTPoison|"
    r"akka-http|Akka-HTTP|sttp|Ktor client|ktor-client)(?:[/ ]|$)",
    r"PowerShell/[\d.]+", r"Faraday v[\d.]+", r"colly - https?://",
    r"^got \(https?://", r"^rest-client/", r"^Mechanize/", r"^HTTP-Tiny/", r"^Python-httplib2/",
    r"python-requests/", r"python-httpx/", r"aiohttp/",
    r"okhttp/", r"node-fetch\b", r"undici\b", r"GuzzleHttp/", r"httpie\b", r"RestSharp/",
    r"HttpClient/", r"httpx/", r"Scrapy/", r"PostmanRuntime/", flags=0,
)
# A bot's own word: what a list pattern matched inside a browser-shaped UA must contain (or the
# UA must link a page) before it counts.
_BOT_WORDS = _rule(r"bot\b", r"bot/", r"crawl", r"spider", r"slurp", r"fetch", r"scan", r"monitor", r"preview",
                   r"archiv", r"check", r"agent")
_BOT_STEMS = _rule(*(w.removesuffix(r"\b").removesuffix("/") for w in _BOT_WORDS.pattern.split("|")))
_BROWSER_SHAPE = re.compile(r"^Mozilla/5\.0 \((?!compatible;)[^)]*\).*\b(?:Gecko|Safari|Chrome|Firefox)/")
# ... or an app naming the phone it runs on (Podimo/1.20 build 148/Android 29, WhatsApp/2.17 Android/6.0).
_MOBILE_OS = re.compile(r"\b(?:Android[ /]\d|iOS[ /]\d|iPhone OS \d|CPU OS \d)")
# A bot that names itself: a product token ending in bot/crawler/spider (not the Cubot phone).
_SELF_DECLARED = re.compile(r"(?:^|[\s;(+,])[\w.-]*(?<!cu)(?:bot|crawler|spider|scraper)(?=[\s/;)_,.-]|$)",
                            re.IGNORECASE)

# crawler-user-agents tags -> kind, strongest first (a bot with two tags gets the first).
_TAG_KINDS = (
    ("ai-crawler", AI_CRAWLER), ("search-engine", SEARCH_ENGINE), ("scanner", SCANNER),
    ("browser-automation", AI_AGENT), ("monitoring", MONITORING), ("http-library", HTTP_LIBRARY),
)
_KIND_RANK = {kind: rank for rank, (_, kind) in enumerate(_TAG_KINDS)}


def _kind_of(tags: list[str]) -> str:
    return next((kind for tag, kind in _TAG_KINDS if tag in tags), CRAWLER)


@lru_cache(maxsize=1)
def _crawler_list() -> tuple[re.Pattern[str], list[tuple[re.Pattern[str], str]]]:
    """(one regex of every pattern, for the common no-match case; each pattern with its kind)."""
    entries = [(re.compile(e["pattern"]), _kind_of(e.get("tags", []))) for e in CRAWLER_USER_AGENTS_DATA]
    return re.compile("|".join(f"(?:{e['pattern']})" for e in CRAWLER_USER_AGENTS_DATA)), entries


def _listed_kind(ua: str, person_shaped: bool) -> str | None:
    """The kind of the strongest crawler-list pattern this UA matches (None: not listed). In a
    browser- or app-shaped UA the match counts only if it says bot or the UA links a page."""
    if person_shaped and not _links_page(ua) and not _BOT_STEMS.search(ua):
        return None   # no match could count: skips the list's 1,500 patterns for most browsers
    anything, entries = _crawler_list()
    if not anything.search(ua):
        return None
    kinds = [kind for pattern, kind in entries
             if (m := pattern.search(ua)) and (not person_shaped or _links_page(ua) or _BOT_WORDS.search(m.group()))]
    return min(kinds, key=lambda k: _KIND_RANK.get(k, len(_KIND_RANK))) if kinds else None


def _links_page(ua: str) -> bool:
    return "http://" in ua or "https://" in ua or "+http" in ua


@lru_cache(maxsize=10_000)
def _ua_kind(ua: str) -> str | None:
    # Order: what drives a browser beats what the browser is; AI agents and native apps are
    # named before the list, which tags some of them as crawlers or HTTP libraries.
    if _WEBDRIVER.search(ua):
        return WEBDRIVER
    if _HEADLESS.search(ua):
        return HEADLESS
    if _AI_AGENT.search(ua):
        return AI_AGENT
    if _NATIVE_APP.search(ua):
        return NATIVE_APP
    if _MONITOR.search(ua):
        return MONITORING
    person_shaped = bool(_BROWSER_SHAPE.match(ua) or _MOBILE_OS.search(ua))
    listed = _listed_kind(ua, person_shaped)
    if listed is not None:
        return listed
    if _HTTP_LIBRARY.search(ua):
        return HTTP_LIBRARY
    # Phones and tablets are named XBot, M bot 54, Spider 8: in a browser's UA the word is a bot
    # only next to a link to the bot's page.
    if (not person_shaped or _links_page(ua)) and _SELF_DECLARED.search(ua):
        return CRAWLER
    return None


def automation_signals(user_agent: str | None, webdriver: bool | None = None) -> AutomationSignals:
    """Automation kind from the user agent and, when the client reported it, navigator.webdriver
    (the browser saying it is remote-controlled, whatever its UA)."""
    if webdriver is True:
        return AutomationSignals(WEBDRIVER, True)
    ua = user_agent.strip()[:_MAX_UA] if user_agent else ""
    kind = _ua_kind(ua) if ua else None
    return _NONE if kind is None else AutomationSignals(kind, kind != NATIVE_APP)
