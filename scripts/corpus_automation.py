#!/usr/bin/env python3
"""How much automation riskengine recognises in public user-agent corpora, and how many real
browsers it wrongly calls automated.

    .venv/bin/python scripts/corpus_automation.py                            # this checkout
    PYTHONPATH=/work/wt-base .venv/bin/python scripts/corpus_automation.py  # another checkout

Per corpus: recognised / total (automated, any kind), the kinds given, and for real-browser
corpora the false positives (any automated verdict) with examples. The code measured is
`riskengine.signals.automation.automation_signals` where it exists, else the older
`riskengine.signals.device.device_signals(...).automation` (checkouts before that module).

Corpora (none is downloaded; each comes from an installed package or tests/data):
  crawler-user-agents   the instances of the crawler-user-agents package (PyPI, MIT); the
                        detector's own pattern source, so read it as coverage, not accuracy
  matomo-bots           device-detector's copy of Matomo's bot fixtures (PyPI device-detector,
                        LGPL-3.0): an independent list of bots with their categories
  matomo-libraries      Matomo fixtures whose client is a library (same package)
  probes:<corpus>       tests/data/automation_probes.tsv: default UAs of HTTP libraries and CLIs,
                        headless tools, AI agents, native apps (compiled for riskengine)
  browsers-npm          tests/data/browser_user_agents.tsv: npm user-agents 2.1.198 (BSD-2-Clause),
                        10,000 real weighted browser UAs
  browsers-fake-useragent  fake-useragent's browsers.jsonl (PyPI, Apache-2.0)
  matomo-<device>       Matomo's browser and in-app fixtures by device type (TVs, consoles, cars,
                        phones...); a "mobile app" client is an in-app browser or a native app
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
Detector = Callable[[str], tuple[bool, str | None]]
Corpus = list[tuple[str, str, int]]   # (user agent, label, weight)


def detector() -> tuple[str, Detector]:
    try:
        from riskengine.signals.automation import automation_signals
    except ImportError:
        from riskengine.signals.device import device_signals

        def old(ua: str) -> tuple[bool, str | None]:
            d = device_signals(ua, None, None, None, None)
            return d.automation, d.automation_kind
        return "riskengine.signals.device (before signals.automation)", old

    def new(ua: str) -> tuple[bool, str | None]:
        a = automation_signals(ua)
        return a.automated, a.kind
    return "riskengine.signals.automation", new


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)   # located, not imported
    return Path(next(iter(spec.submodule_search_locations))) if spec and spec.submodule_search_locations else None


def crawler_list() -> Corpus:
    where = _package_dir("crawleruseragents")
    if where is None:
        return []
    entries = json.loads((where / "crawler-user-agents.json").read_text("utf-8"))
    return [(ua, ",".join(e["tags"]), 1) for e in entries for ua in e.get("instances", [])]


def matomo_fixtures() -> Iterator[tuple[str, dict]]:
    where = _package_dir("device_detector")
    if where is None:
        return
    for path in sorted((where / "tests" / "fixtures" / "upstream").glob("*.yml")):
        for entry in yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader) or []:
            yield path.stem.split("-")[0], entry


def probes() -> dict[str, Corpus]:
    out: dict[str, Corpus] = collections.defaultdict(list)
    for line in (DATA / "automation_probes.tsv").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            corpus, kind, ua = line.split("\t")
            out[f"probes:{corpus}"].append((ua, kind, 1))
    return dict(out)


def browsers_npm() -> Corpus:
    rows = [line.split("\t", 1) for line in (DATA / "browser_user_agents.tsv").read_text("utf-8").splitlines()
            if line and not line.startswith("#")]
    return [(ua, "browser", int(n)) for n, ua in rows]


def browsers_fake_useragent() -> Corpus:
    where = _package_dir("fake_useragent")
    if where is None:
        return []
    lines = (where / "data" / "browsers.jsonl").read_text("utf-8").splitlines()
    return [(json.loads(line)["useragent"], "browser", 1) for line in lines if line]


def corpora() -> tuple[dict[str, Corpus], dict[str, Corpus]]:
    """(automated corpora, real-client corpora)."""
    bots: dict[str, Corpus] = {"crawler-user-agents": crawler_list()}
    clients: dict[str, Corpus] = {"browsers-npm": browsers_npm(),
                                  "browsers-fake-useragent": browsers_fake_useragent()}
    matomo_bots, libraries = [], []
    for device, e in matomo_fixtures():
        client = e.get("client") if isinstance(e.get("client"), dict) else {}
        if "bot" in e:
            matomo_bots.append((e["user_agent"], e["bot"].get("category") or "?", 1))
        elif client.get("type") == "library":
            libraries.append((e["user_agent"], client.get("name", "?"), 1))
        elif client.get("type") in ("browser", "mobile app"):
            clients.setdefault(f"matomo-{device}", []).append((e["user_agent"], client["type"], 1))
    bots.update({"matomo-bots": matomo_bots, "matomo-libraries": libraries})
    found = probes()
    clients["probes:native_app"] = found.pop("probes:native_app", [])
    bots.update(found)
    return {k: v for k, v in bots.items() if v}, {k: v for k, v in clients.items() if v}


def _share(n: int, total: int) -> str:
    return f"{n:,} / {total:,} ({n / total:.0%})" if total else "0 / 0"


def report_bots(name: str, corpus: Corpus, detect: Detector, show_missed: int) -> None:
    kinds: collections.Counter[str] = collections.Counter()
    missed_by_label: collections.Counter[str] = collections.Counter()
    total_by_label: collections.Counter[str] = collections.Counter()
    missed = []
    for ua, label, _ in corpus:
        automated, kind = detect(ua)
        total_by_label[label] += 1
        if automated:
            kinds[kind or "?"] += 1
        else:
            missed_by_label[label] += 1
            missed.append(ua)
    print(f"\n{name}: recognised {_share(sum(kinds.values()), len(corpus))}")
    print("  kinds given: " + ", ".join(f"{k} {n:,}" for k, n in kinds.most_common()))
    print("  recognised by label: " + ", ".join(
        f"{label} {total - missed_by_label[label]}/{total}" for label, total in total_by_label.most_common(12)))
    for ua in missed[:show_missed]:
        print(f"  missed: {ua[:150]}")


def report_clients(name: str, corpus: Corpus, detect: Detector, show: int) -> None:
    weighted = sum(w for *_, w in corpus)
    false_pos = [(ua, kind, w) for ua, _, w in corpus for automated, kind in [detect(ua)] if automated]
    kinds = collections.Counter(detect(ua)[1] or "browser" for ua, _, _ in corpus)
    print(f"\n{name}: {len(corpus):,} user agents ({weighted:,} weighted); false positives "
          f"{len(false_pos):,} ({sum(w for *_, w in false_pos):,} weighted)")
    print("  kinds given: " + ", ".join(f"{k} {n:,}" for k, n in kinds.most_common()))
    for ua, kind, _ in false_pos[:show]:
        print(f"  false positive ({kind}): {ua[:150]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--show", type=int, default=5, help="missed bots / false positives to print per corpus")
    args = p.parse_args(argv)
    name, detect = detector()
    bots, clients = corpora()
    print(f"measuring {name}")
    for corpus_name, corpus in bots.items():
        report_bots(corpus_name, corpus, detect, args.show)
    for corpus_name, corpus in clients.items():
        report_clients(corpus_name, corpus, detect, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
