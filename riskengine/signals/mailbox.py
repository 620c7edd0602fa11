"""The mailbox an email address delivers to, from the provider table in
`riskengine/data/email_providers.toml` (one rule per documented provider behaviour).

Pure: the table is package data, read once. An address at a domain the table does not list is
kept as written (lowercased): a missed fold loses a link, a false fold joins two people.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

_TAG_KEYS = ("base", "base-and-separator")


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    domains: frozenset[str]
    canonical_domain: str | None = None
    tag_separators: tuple[str, ...] = ()
    keep_separator: bool = False
    ignored_characters: str = ""
    same_characters: tuple[tuple[str, str], ...] = ()
    subdomain_addressing: bool = False


@dataclass(frozen=True, slots=True)
class Mailbox:
    """`aliased`: reaching the mailbox dropped a tag, a subdomain or ignored characters (the
    "one inbox, many accounts" pattern); case and a canonical domain spelling are not aliasing."""

    local: str
    domain: str
    aliased: bool

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"


def _provider(entry: dict[str, Any]) -> Provider:
    tag_key = entry.get("tag_key", "base")
    if tag_key not in _TAG_KEYS:
        raise ValueError(f"email_providers.toml: {entry['name']}: tag_key must be one of {_TAG_KEYS}")
    docs = entry.get("docs", {})
    for rule in ("canonical_domain", "tag_separators", "ignored_characters", "same_characters",
                 "subdomain_addressing"):
        if entry.get(rule) and rule not in docs:
            raise ValueError(f"email_providers.toml: {entry['name']}: rule {rule} cites no documentation")
    return Provider(
        name=entry["name"],
        domains=frozenset(d.lower() for d in entry["domains"]),
        canonical_domain=entry.get("canonical_domain"),
        tag_separators=tuple(entry.get("tag_separators", ())),
        keep_separator=tag_key == "base-and-separator",
        ignored_characters=entry.get("ignored_characters", ""),
        same_characters=tuple((a, b) for a, b in entry.get("same_characters", ())),
        subdomain_addressing=bool(entry.get("subdomain_addressing", False)),
    )


def load_providers(text: str) -> dict[str, Provider]:
    """Domain -> its provider, from the TOML text of a provider table."""
    by_domain: dict[str, Provider] = {}
    for entry in tomllib.loads(text)["provider"]:
        provider = _provider(entry)
        for domain in provider.domains:
            if domain in by_domain:
                raise ValueError(f"email_providers.toml: {domain} listed twice")
            by_domain[domain] = provider
    return by_domain


@lru_cache(maxsize=1)
def providers() -> dict[str, Provider]:
    return load_providers(
        resources.files("riskengine").joinpath("data", "email_providers.toml").read_text("utf-8"))


def _subdomain_user(domain: str, table: dict[str, Provider]) -> tuple[str, str] | None:
    """("bob", "fastmail.com") for "bob.fastmail.com" when the provider documents subdomain
    addressing; one label only (deeper names are not documented)."""
    user, _, parent = domain.partition(".")
    provider = table.get(parent)
    if user and provider is not None and provider.subdomain_addressing:
        return user, parent
    return None


def _strip_tag(local: str, provider: Provider) -> str:
    for sep in provider.tag_separators:
        base, found, _ = local.partition(sep)
        if found and base:  # "+x@" keeps its only content rather than folding to nothing
            return base + sep if provider.keep_separator else base
    return local


def fold(local: str, domain: str) -> Mailbox:
    """The mailbox that `local@domain` (domain in lowercase ASCII) delivers to."""
    local, domain = local.lower(), domain.lower()
    table = providers()
    aliased = False
    provider = table.get(domain)
    if provider is None and (sub := _subdomain_user(domain, table)) is not None:
        local, domain = sub
        provider, aliased = table[domain], True
    if provider is None:
        return Mailbox(local, domain, False)
    if provider.canonical_domain:
        domain = provider.canonical_domain
    for a, b in provider.same_characters:
        local = local.replace(a, b)     # one spelling of the same name: not aliasing
    spelled = local
    local = _strip_tag(local, provider)
    if provider.ignored_characters:
        local = local.translate({ord(c): None for c in provider.ignored_characters}) or local
    return Mailbox(local, domain, aliased or local != spelled)
