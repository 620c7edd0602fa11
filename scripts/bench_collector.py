"""Time from the signup page's script to a device token, in headless Chromium against a live
engine (tests/factories.py: `riskengine serve`, a page on another origin that loads
/collector.js with its SRI hash and calls riskengine.collect: FingerprintJS, BotD, the CORS
preflight and POST /v1/device). Each load is a fresh browser context (no cache, no cookies),
in one browser. Baseline in the same run: the same page without the collector's work, one
fetch of /healthz from the page to the engine (a cross-origin round trip).

    .venv/bin/python scripts/bench_collector.py [--loads 20]

Prints the bundle's size (raw, gzip) and the median and maximum time to a token (the page's
own performance.now(), and the wall time around page.goto + waiting for the token)."""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.factories import UNDRIVEN, desktop_user_agent, launch, live_engine, signup_page  # noqa: E402


def bundle_sizes() -> tuple[int, int]:
    body = resources.files("riskengine").joinpath("web", "static", "collector.js").read_bytes()
    return len(body), len(gzip.compress(body, compresslevel=6))


def baseline_ms(browser, page_url: str, engine_url: str, user_agent: str) -> float:
    context = browser.new_context(user_agent=user_agent)
    try:
        page = context.new_page()
        page.goto(page_url)
        page.evaluate("window.tokenReady")
        return page.evaluate("""async (url) => { const t = performance.now();
            await fetch(url + '/healthz', {mode: 'no-cors'}).catch(() => null); return performance.now() - t; }""",
                             engine_url)
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=20)
    args = parser.parse_args()
    raw, gz = bundle_sizes()
    print(f"collector.js: {raw} bytes raw, {gz} bytes gzip (level 6)")
    with tempfile.TemporaryDirectory(prefix="bench-collector-") as tmp, signup_page() as (origin, holder):
        with live_engine(Path(tmp), origin) as engine, sync_playwright() as pw:
            holder["engine"] = engine
            browser = launch(pw, UNDRIVEN)
            ua = desktop_user_agent(browser.version)
            page_ms, wall_ms, base = [], [], []
            for i in range(args.loads + 1):
                context = browser.new_context(user_agent=ua)
                page = context.new_page()
                started = time.perf_counter()
                page.goto(origin + "/signup")
                page.evaluate("window.tokenReady")
                wall = (time.perf_counter() - started) * 1000
                measured = page.evaluate("window.tokenMs")
                context.close()
                if i:               # the first load warms the engine's worker and the browser
                    page_ms.append(measured)
                    wall_ms.append(wall)
                    base.append(baseline_ms(browser, origin + "/signup", engine.url, ua))
            browser.close()
    print(f"chromium {browser.version}, {args.loads} page loads, fresh context each")
    for name, xs in (("page script -> token", page_ms), ("goto + token (wall)", wall_ms),
                     ("baseline: one cross-origin fetch", base)):
        print(f"  {name:34s} median {statistics.median(xs):7.1f} ms   max {max(xs):7.1f} ms")
    print(f"  ratio token / baseline fetch (medians): {statistics.median(page_ms) / statistics.median(base):.1f}")


if __name__ == "__main__":
    main()
