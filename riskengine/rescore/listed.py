"""Which accounts used a device, card or address that a policy list names. Storage keeps
those identifiers as keyed hashes, so the listed values are hashed with the same key and
matched to the window's links."""
from __future__ import annotations

from collections.abc import Collection

import numpy as np

from riskengine.scoring.policy import OTHER, Policy

LINK_LISTS = {"device": "device_ids", "payment": "card_fingerprints"}   # link kind -> list it is matched to


def listed_keys(policy: Policy, hasher) -> dict[str, tuple[str, str]]:
    """Keyed hash -> (list name, raw value) of every device id and card fingerprint on the
    policy's lists, hashed as storage hashes them."""
    out = {}
    for lists in (policy.allow, policy.deny):
        for kind, name in LINK_LISTS.items():
            out.update({hasher(kind, str(v).strip()): (name, v) for v in getattr(lists, name)})
    return out


def used_links(kind: np.ndarray, value: np.ndarray, acct: np.ndarray,
               listed: dict[int, tuple[str, str]]) -> dict[int, dict[str, set]]:
    """Account index -> list name -> its listed devices/cards (plus OTHER when it also used one
    no list names), for the accounts that used a listed one. `value` holds ids of link values;
    `listed` maps the ids of listed ones."""
    if not listed:
        return {}
    out: dict[int, dict[str, set]] = {}
    hit = np.isin(value, np.fromiter(listed, np.int64, len(listed)))
    for a, v in zip(acct[hit].tolist(), value[hit].tolist(), strict=True):
        name, raw = listed[v]
        out.setdefault(a, {}).setdefault(name, set()).add(raw)
    for link_kind, name in LINK_LISTS.items():
        for a in _also_unlisted(out, acct[(kind == link_kind) & ~hit]):
            out[a].setdefault(name, set()).add(OTHER)
    return out


def add_other(out: dict[int, set], unlisted_accounts: np.ndarray) -> None:
    """OTHER into the sets of the accounts of `out` that also used an unlisted value."""
    for a in _also_unlisted(out, unlisted_accounts):
        out[a].add(OTHER)


def _also_unlisted(out: Collection[int], unlisted_accounts: np.ndarray) -> list[int]:
    """The accounts of `out` among `unlisted_accounts`."""
    mine = np.fromiter(out, np.int64, len(out))
    return np.intersect1d(unlisted_accounts, mine).tolist()
