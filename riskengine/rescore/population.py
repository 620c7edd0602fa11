"""What the job knows of all active accounts before scoring any of them: states, labels,
clusters and prompt-template sharing, each read in one pass and vectorised."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskengine import storage
from riskengine.rescore.behaviour import (
    UsageColumns,
)
from riskengine.rescore.clusters import cluster_features, components, link_edges
from riskengine.rescore.listed import used_links
from riskengine.rescore.phases import Phases
from riskengine.rescore.templates import template_families, template_sharing


@dataclass
class Population:
    """What the job knows of all active accounts before scoring any of them."""
    accounts: list[str]
    index: dict[str, int]
    created: np.ndarray
    previous: list[str | None]       # decision before this run
    labels: dict[str, str]
    cluster: np.ndarray              # cluster id per account
    cluster_feats: dict[str, np.ndarray]
    sharing: np.ndarray              # template sharing per account
    usage: UsageColumns | None = None   # the window's usage of all accounts, when loaded centrally
    listed_links: dict[int, dict] = field(default_factory=dict)   # see listed.used_links


def population(conn, since: float, until: float, phases: Phases | None = None,
               keep_usage: bool = False, listed: dict[str, tuple[str, str]] | None = None) -> Population:
    """With keep_usage, the window's usage is read once here and reused by the (single)
    partition; without, only the fingerprints are read (for Dask, whose workers read their own).
    `listed`: the policy's listed devices and cards by keyed hash (listed.listed_keys)."""
    phases = Phases() if phases is None else phases
    with phases("load"):
        return _population(conn, since, until, phases, keep_usage, listed or {})


def _population(conn, since, until, phases, keep_usage, listed) -> Population:
    accounts = storage.active_accounts(conn, since, until)
    index = {a: i for i, a in enumerate(accounts)}
    n = len(accounts)
    created = np.full(n, np.nan)
    previous: list[str | None] = [None] * n
    blocked = np.zeros(n, bool)
    for acct, created_ts, last, rescored in storage.account_states(conn):
        i = index.get(acct)
        if i is not None:
            created[i] = created_ts
            previous[i] = rescored or last
            blocked[i] = (rescored or last) == "block"
    labels = storage.latest_labels(conn, until)
    fraud = np.array([labels.get(a) == "fraud" for a in accounts], bool)
    legit = np.array([labels.get(a) == "legit" for a in accounts], bool)
    usage = UsageColumns.from_rows(storage.usage_window(conn, since, until), index) if keep_usage else None
    fp_account, fp = _distinct_fingerprints(usage.account, usage.fingerprint) if usage is not None \
        else _fingerprints(conn, since, until, index)
    links, listed_ids = _link_rows(conn, since, index, listed)
    with phases("clusters"):
        sharing = template_sharing(fp_account, fp, n)
        cluster = _clusters(n, links, fp_account, fp)
        feats = cluster_features(cluster, blocked, fraud, legit, created)
    phases["load"] = phases.get("load", 0.0) - phases["clusters"]     # nested inside "load"
    return Population(accounts, index, created, previous, labels, cluster, feats, sharing, usage,
                      used_links(*links, listed_ids))


def _fingerprints(conn, since, until, index, chunk: int = 500_000):
    """Distinct (account index, fingerprint) pairs in the window."""
    accts, fps = [], []
    for block in storage.chunked(storage.usage_fingerprints(conn, since, until), chunk):
        a, f = zip(*block, strict=True)
        accts.append(np.fromiter((index.get(x, -1) for x in a), np.int64, len(block)))
        fps.append(np.fromiter((v & 0xFFFFFFFFFFFFFFFF for v in f), np.uint64, len(block)))
    if not accts:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return _distinct_fingerprints(np.concatenate(accts), np.concatenate(fps))


def _distinct_fingerprints(acct: np.ndarray, fp: np.ndarray):
    keep = (acct >= 0) & (fp != 0)
    acct, fp = acct[keep], fp[keep]
    order = np.lexsort((fp, acct))
    acct, fp = acct[order], fp[order]
    # One flag per row: np.r_[True, ...] has one even for no rows (a young database may hold no fingerprint).
    first = np.ones(len(acct), bool)
    first[1:] = (acct[1:] != acct[:-1]) | (fp[1:] != fp[:-1])
    return acct[first], fp[first]


def _link_rows(conn, since, index, listed, chunk: int = 500_000
               ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], dict[int, tuple[str, str]]]:
    """(kind, entity id, account index) of the window's links, and {entity id: listed[value]}
    for the values the policy lists. Link values are keyed hashes that include their kind, so
    the value alone identifies the shared thing."""
    ids: dict[str, int] = {}
    kinds, values, accts = [], [], []
    for block in storage.chunked(storage.link_rows(conn, since), chunk):
        k, v, a = zip(*block, strict=True)
        kinds.append(np.asarray(k, object))
        values.append(np.fromiter((ids.setdefault(x, len(ids)) for x in v), np.int64, len(block)))
        accts.append(np.fromiter((index.get(x, -1) for x in a), np.int64, len(block)))
    listed_ids = {ids[h]: entry for h, entry in listed.items() if h in ids}
    if not kinds:
        return (np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64)), listed_ids
    kind, value, acct = np.concatenate(kinds), np.concatenate(values), np.concatenate(accts)
    keep = acct >= 0
    return (kind[keep], value[keep], acct[keep]), listed_ids


def _clusters(n, links, fp_account, fp) -> np.ndarray:
    src, dst, w = link_edges(*links)
    # A prompt-template family is one shared thing, like a card: its rarity weighs the edge.
    family = template_families(fp_account, fp)
    keep = family >= 0
    if keep.any():
        t_src, t_dst, t_w = link_edges(np.full(int(keep.sum()), "template", object), family[keep], fp_account[keep])
        src, dst, w = np.concatenate([src, t_src]), np.concatenate([dst, t_dst]), np.concatenate([w, t_w])
    return components(n, src, dst, w)
