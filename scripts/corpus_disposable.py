"""How well the email-domain signals hold on real domains: recognised/total per corpus.

    python scripts/corpus_disposable.py                  # this checkout's riskengine
    PYTHONPATH=/path/to/other/checkout python scripts/corpus_disposable.py   # another one

Corpora (tests/data/corpora/README.md says source, version and licence):
  * FakeFilter: the hosts that live temporary-mail providers handed out, with the time each
    was first and last seen. Recall = share that `is_disposable` (or the list-free random-label
    check) recognises. FakeFilter is no list riskengine detects with. One caveat: the
    disposable/disposable-email-domains list (inside PyPI disposable-email-detector) is itself
    an aggregate of other lists, FakeFilter evidently among them, so the union's recall here is
    no out-of-sample figure; the per-list lines show the figure without it.
  * Real domains: riskengine's free-provider list, npm top-sites' 500, and a hand list of
    webmail providers. False positives = share flagged.
A domain burst (signups per email domain) needs traffic, not a domain list: it is measured
by the tests (tests/scoring/test_email_domain_burst.py, through /v1/assess), not here.

Falls back to what an older riskengine has: without `domain_looks_random` or the per-list
module, those lines say "n/a"."""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from riskengine.signals import email

CORPORA = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpora"
DAY = 86400
# Webmail with permanent mailboxes (reviewed by hand; some lists name a few of them).
WEBMAIL = ("21cn.com", "sify.com", "tom.com", "hush.com", "keemail.me", "tutanota.com", "tuta.io", "mailfence.com",
           "posteo.de", "disroot.org", "riseup.net", "rediffmail.com", "seznam.cz", "laposte.net", "libero.it",
           "wp.pl", "web.de", "gmx.net", "mail.ru", "yandex.ru", "163.com", "126.com", "yeah.net", "139.com",
           "sohu.com", "sina.com", "qq.com", "naver.com", "daum.net", "abv.bg", "ukr.net", "inbox.lv")


def provider_domains() -> list[str]:
    """Every domain of the documented mailbox providers (this checkout's table)."""
    import tomllib
    path = Path(__file__).resolve().parent.parent / "riskengine" / "data" / "email_providers.toml"
    return [d for p in tomllib.loads(path.read_text("utf-8"))["provider"] for d in p["domains"]]


def fakefilter(path: Path = CORPORA / "fakefilter_hosts.tsv") -> tuple[int, list[tuple[str, int, int]]]:
    """(snapshot time, [(host, firstseen, lastseen)])."""
    rows, snapshot = [], 0
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("#"):
            if "snapshot t=" in line:
                snapshot = int(line.rsplit("t=", 1)[1])
            continue
        host, first, last, _ = line.split("\t")
        rows.append((host, int(first), int(last)))
    return snapshot, rows


def convert_fakefilter_json(src: Path, dst: Path) -> None:
    """Refresh the TSV from FakeFilter's json/data_version2.json (npm pack fakefilter)."""
    data = json.loads(src.read_text("utf-8"))
    rows = sorted(((h.lower(), hv["firstseen"], hv["lastseen"], ",".join(v["providers"]))
                   for v in data["domains"].values() for h, hv in v["hosts"].items()), key=lambda r: (-r[2], r[0]))
    head = (f"# FakeFilter ({src}), snapshot t={data['t']}\n"
            "# host\tfirstseen\tlastseen\tproviders (epoch seconds, UTC)\n")
    dst.write_text(head + "".join("\t".join(map(str, r)) + "\n" for r in rows), "utf-8")


def _lines(path: Path) -> list[str]:
    return [ln.split("#", 1)[0].strip().lower() for ln in path.read_text("utf-8").splitlines()
            if ln.split("#", 1)[0].strip()]


def free_providers() -> list[str]:
    return sorted(email._free_providers())


def _share(domains: list[str], test: Callable[[str], bool] | None) -> str:
    if test is None:
        return "n/a (not in this riskengine)"
    hits = [d for d in domains if test(d)]
    return f"{len(hits)}/{len(domains)} = {len(hits) / max(1, len(domains)):.1%}"


def _hits(domains: Iterable[str], test: Callable[[str], bool] | None) -> list[str]:
    return [] if test is None else [d for d in domains if test(d)]


def _in(listed: frozenset[str]) -> Callable[[str], bool]:
    def test(domain: str) -> bool:
        labels = domain.split(".")
        return any(".".join(labels[i:]) in listed for i in range(len(labels) - 1))
    return test


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fakefilter-json", type=Path, help="rewrite the FakeFilter TSV from this file first")
    args = parser.parse_args(argv)
    if args.fakefilter_json:
        convert_fakefilter_json(args.fakefilter_json, CORPORA / "fakefilter_hosts.tsv")

    random_label = getattr(email, "domain_looks_random", None)
    either = (lambda d: email.is_disposable(d) or random_label(d)) if random_label else None
    try:
        from riskengine.signals import disposable_lists
        lists: dict[str, Callable[[str], bool]] = {n: _in(disposable_lists.source(n)) for n in disposable_lists.SOURCES}
        lists["union less disposable-email-detector"] = _in(frozenset().union(
            *(disposable_lists.source(n) for n in disposable_lists.SOURCES if n != "disposable-email-detector")))
    except ImportError:
        lists = {}

    snapshot, rows = fakefilter()
    print(f"FakeFilter hosts, snapshot {snapshot} (npm fakefilter 0.1.1476, BSD-3-Clause)")
    for title, keep in (("handed out in the last 90 days", lambda r: r[2] >= snapshot - 90 * DAY),
                        ("handed out in the last 365 days", lambda r: r[2] >= snapshot - 365 * DAY),
                        ("first seen in the last 90 days", lambda r: r[1] >= snapshot - 90 * DAY)):
        hosts = [h for h, *_ in rows if keep((h, *_))]
        print(f"  {title}: {len(hosts)} hosts")
        print(f"    {'is_disposable':<45}{_share(hosts, email.is_disposable)}")
        print(f"    {'random-looking label':<45}{_share(hosts, random_label)}")
        print(f"    {'either':<45}{_share(hosts, either)}")
        for name, test in lists.items():
            print(f"    list {name:<40}{_share(hosts, test)}")

    print("Real domains (false positives)")
    for title, domains in (("riskengine free-provider list", free_providers()),
                           ("npm top-sites 1.1.222 (500, MIT)", _lines(CORPORA / "top_sites.txt")),
                           ("hand list of webmail providers", list(WEBMAIL)),
                           ("domains of the alias table's providers (data/email_providers.toml)",
                            provider_domains())):
        print(f"  {title}: {len(domains)} domains")
        for name, test in (("is_disposable", email.is_disposable), ("random-looking label", random_label)):
            found = _hits(domains, test)
            print(f"    {name:<30}{_share(domains, test)}" + (f"  {', '.join(found[:12])}" if found else ""))


if __name__ == "__main__":
    main()
