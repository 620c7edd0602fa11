"""The disposable-mail domain lists that `email.is_disposable` unions, and the reviewed
allowlist of real providers that overrides them.

Each list is a maintained PyPI package (no download at run time: a release of riskengine
pins what it ships through its dependencies):

  disposable-email-domains   (MIT)  the disposable-email-domains/disposable-email-domains list
  mailchecker                (MIT)  FGRibreau/mailchecker's list
  disposable-email-detector  (MIT)  disposable/disposable-email-domains plus EmailAlias.io's
                                    observed domains

The lists disagree at the edges: mailchecker lists privacy forwarders (duck.com, addy.io,
simplelogin.com), two lists carry real webmail (21cn.com, sify.com). Every such conflict is
reviewed once and written to data/disposable_allowlist.txt with the reason."""
from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources


def _disposable_email_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist
    return frozenset(blocklist)


def _mailchecker() -> frozenset[str]:
    from MailChecker import MailChecker
    return frozenset(MailChecker.blacklist)


def _disposable_email_detector() -> frozenset[str]:
    from disposable_email_detector import DISPOSABLE_DOMAINS
    return frozenset(DISPOSABLE_DOMAINS)


# name (the PyPI package) -> its domains
SOURCES: dict[str, Callable[[], frozenset[str]]] = {
    "disposable-email-domains": _disposable_email_domains,
    "mailchecker": _mailchecker,
    "disposable-email-detector": _disposable_email_detector,
}


@cache
def source(name: str) -> frozenset[str]:
    """One list's domains, lowercased (scripts/corpus_disposable.py measures them one by one)."""
    return frozenset(d.strip().lower() for d in SOURCES[name]() if d.strip())


@lru_cache(maxsize=1)
def union() -> frozenset[str]:
    return frozenset().union(*(source(name) for name in SOURCES))


def _allowlist_lines() -> list[tuple[str, str]]:
    text = resources.files("riskengine").joinpath("data", "disposable_allowlist.txt").read_text("utf-8")
    rows = []
    for line in text.splitlines():
        entry, _, why = line.partition("#")
        if entry.strip():
            rows.append((entry.strip().lower(), why.strip()))
    return rows


@lru_cache(maxsize=1)
def allowlist() -> frozenset[str]:
    """Real providers that some list calls disposable; each line of the file says why."""
    return frozenset(domain for domain, _ in _allowlist_lines())


def allowlist_reasons() -> dict[str, str]:
    return dict(_allowlist_lines())
