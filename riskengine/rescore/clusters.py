"""Account clusters from shared identifiers, weighted by how rare the sharing is.

Pure numpy/scipy over arrays for the re-scoring batch job (accounts as dense indexes 0..n-1):
link rows (kind, entity, account) -> weighted edges -> connected components -> per-account features.

Evidence of one shared thing = KIND_WEIGHTS[kind] * rarity(n), n = distinct accounts sharing it:

    rarity(n) = 1 - ln(n - 1) / ln(max_group)        for 2 <= n <= max_group, no edges above

A pair gets the full kind weight; each doubling of the others costs the same share, reaching ~0 at
max_group, so the cut-off is continuous. With max_group=200 and min_weight=0.3: a card shared by
12 accounts weighs 0.55 and links on its own (cards link alone up to 41 accounts, devices up to 31);
an IP links alone only up to 9 accounts; a subnet never links alone; a NAT IP of 500 accounts gives
nothing.

Two accounts sharing several things get the evidence summed before thresholding, but only across
families of correlated kinds (KIND_FAMILY): within a family the strongest counts, since an IP
implies its subnet and a device id usually comes with its hardware hash.
"""
from __future__ import annotations

from itertools import repeat

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from riskengine.rescore.runs import pairs_within as _pairs_within
from riskengine.rescore.runs import ranks as _ranks

KIND_WEIGHTS: dict[str, float] = {
    "payment": 1.0, "phone": 1.0, "mailbox": 1.0, "device": 0.9,
    "components": 0.6, "template": 0.7, "ip": 0.5, "subnet": 0.2,
}
KINDS: tuple[str, ...] = tuple(KIND_WEIGHTS)           # integer kind codes index this tuple
KIND_FAMILY: dict[str, str] = {"ip": "network", "subnet": "network", "components": "device"}
_FAMILIES = sorted({KIND_FAMILY.get(k, k) for k in KINDS})
_FAMILY_CODE = np.array([_FAMILIES.index(KIND_FAMILY.get(k, k)) for k in KINDS])
_WEIGHT = np.array([KIND_WEIGHTS[k] for k in KINDS])
BURST_WINDOW = 3600.0


def _kind_codes(kind: np.ndarray) -> np.ndarray:
    """Kind names or codes -> codes into KINDS."""
    kind = np.asarray(kind)
    if kind.dtype.kind in "iu":
        codes = kind.astype(np.int64)
    else:                                               # a dict lookup beats sorting 3M strings
        index = {k: i for i, k in enumerate(KINDS)}
        codes = np.fromiter(map(index.get, kind.tolist(), repeat(-1)), np.int64, len(kind))
    if len(codes) and (codes.min() < 0 or codes.max() >= len(KINDS)):
        bad = kind[(codes < 0) | (codes >= len(KINDS))].tolist()[0]
        raise ValueError(f"unknown link kind {bad!r}; known: {', '.join(KINDS)}")
    return codes


def _groups(kind: np.ndarray, entity: np.ndarray, account: np.ndarray):
    """Distinct (group, account) rows sorted by group, then account; group = distinct (entity, kind).
    Returns group per row, account per row and the kind code of each group."""
    code = _kind_codes(kind)
    entity = np.asarray(entity, np.int64)
    account = np.asarray(account, np.int64)
    if not len(code) == len(entity) == len(account):
        raise ValueError("kind, entity and account must have the same length")
    if len(account) and account.min() < 0:
        raise ValueError("account indexes must be >= 0")
    order = _sort_rows(code, entity, account)
    code, entity, account = code[order], entity[order], account[order]
    new_group = _changes(code, entity)
    keep = new_group | _changes(account)                        # drop repeated rows
    group = np.cumsum(new_group) - 1
    return group[keep], account[keep], code[new_group]


def _sort_rows(code, entity, account) -> np.ndarray:
    """Order by (entity, code, account). np.lexsort on three keys takes seconds at 3M rows; ranking
    entities with one sort and packing (rank, code, account) into one int64 key takes two fast sorts."""
    by_entity = np.argsort(entity)
    rank = np.empty(len(entity), np.int64)
    rank[by_entity] = np.cumsum(_changes(entity[by_entity])) - 1
    n_acc = int(account.max()) + 1 if len(account) else 1
    if len(entity) * len(KINDS) >= np.iinfo(np.int64).max // n_acc:
        return np.lexsort((account, code, entity))
    return np.argsort((rank * len(KINDS) + code) * n_acc + account)


def _changes(*sorted_cols: np.ndarray) -> np.ndarray:
    """True where a row of the sorted columns differs from the previous row (and on the first row)."""
    n = len(sorted_cols[0])
    out = np.zeros(n, bool)
    out[:1] = True
    for col in sorted_cols:
        out[1:] |= col[1:] != col[:-1]
    return out


def rarity(n: np.ndarray, max_group: int) -> np.ndarray:
    """1 for two accounts, falling by ln(n - 1) / ln(max_group) to ~0 at max_group (each doubling of
    the other accounts costs ln 2 / ln max_group, 13% at 200)."""
    n = np.asarray(n, np.float64)
    return np.clip(1.0 - np.log(np.maximum(n - 1, 1)) / np.log(max_group), 0.0, 1.0)


def link_edges(kind: np.ndarray, entity: np.ndarray, account: np.ndarray, max_group: int = 200,
               all_pairs_up_to: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (src, dst, weight) between accounts sharing an entity.

    `kind`: kind names (str/object) or integer codes into KINDS; `entity`: int64 id of the shared thing,
    grouped by (kind, entity); `account`: account index. Rows may repeat. Weight of a group =
    KIND_WEIGHTS[kind] * rarity(n) (module docstring); groups of more than max_group distinct accounts
    give no edges. A group of up to `all_pairs_up_to` accounts gives all its pairs (at most 28 per
    group with the default), so summing evidence across groups is exact where it is strongest; a bigger
    group gives a star from its lowest account to the others, enough for connectivity, each edge with
    the group's weight. Summation then only meets on edges two stars share (same hub).

    One edge per (src < dst, kind family) with the family's strongest weight; components() sums
    across families. Returns int64, int64, float64 arrays."""
    if max_group < 2:
        raise ValueError("max_group must be >= 2")
    group, acc, code = _groups(kind, entity, account)
    starts = np.flatnonzero(_changes(group))
    size = np.diff(np.r_[starts, len(group)])
    weight = _WEIGHT[code] * rarity(size, max_group)
    small = (size >= 2) & (size <= all_pairs_up_to)
    star = (size > all_pairs_up_to) & (size <= max_group)
    p, q = _pairs_within(starts[small], size[small])
    hub = np.repeat(starts[star], size[star] - 1)
    spoke = hub + 1 + _ranks(size[star] - 1)
    src, dst = acc[np.r_[p, hub]], acc[np.r_[q, spoke]]        # groups are sorted by account: src < dst
    g = group[np.r_[p, hub]]
    return _strongest_per_family(src, dst, weight[g], _FAMILY_CODE[code[g]])


def _strongest_per_family(src, dst, weight, family):
    """One edge per (src, dst, family), the largest weight; sorted by (src, dst)."""
    n = int(dst.max()) + 1 if len(dst) else 1
    key = (src * n + dst) * len(_WEIGHT) + family               # < 1e13 for 1M accounts
    order = np.argsort(key)
    key, weight = key[order], weight[order]
    first = np.flatnonzero(_changes(key))
    best = np.maximum.reduceat(weight, first) if len(first) else weight
    pair = key[first] // len(_WEIGHT)
    return pair // n, pair % n, best


def components(n_accounts: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray,
               min_weight: float = 0.3) -> np.ndarray:
    """Cluster id per account (int64, 0..k-1): connected components of the graph of account pairs
    whose summed edge weight is >= min_weight.

    Parallel edges between the same two accounts (in either direction, e.g. from several link_edges
    calls or kind families) are summed first: two weak shared things are stronger evidence than one.
    Accounts without a kept edge are singletons."""
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    w = np.asarray(weight, np.float64)
    other = lo != hi
    # coo -> csr sums duplicates: that is the summation of parallel edges.
    graph = coo_matrix((w[other], (lo[other], hi[other])), shape=(n_accounts, n_accounts)).tocsr()
    graph.data = (graph.data >= min_weight).astype(np.int8)
    graph.eliminate_zeros()
    return connected_components(graph, directed=False)[1].astype(np.int64)


def cluster_features(labels: np.ndarray, blocked: np.ndarray, fraud_label: np.ndarray,
                     legit_label: np.ndarray, signup_ts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-account features (float64 arrays of len(labels)); the ones about others exclude the account:

    cluster_size; cluster_blocked_others: share of the other members currently blocked (0 for
    singletons: no others, none blocked); cluster_fraud_others / cluster_legit_others: counts of other
    members labelled fraud / legit; cluster_signup_burst: share of the cluster's known signup times
    inside its busiest window of BURST_WINDOW seconds (including the account itself, since it is about
    the cluster), NaN when fewer than two members have a known time (singletons included).
    `signup_ts` is float epoch seconds, NaN for unknown."""
    labels = np.asarray(labels, np.int64)
    k = int(labels.max()) + 1 if len(labels) else 0
    size = np.bincount(labels, minlength=k).astype(np.float64)
    feats = {"cluster_size": size[labels]}
    for name, flag in (("blocked", blocked), ("fraud", fraud_label), ("legit", legit_label)):
        mine = np.asarray(flag, bool).astype(np.float64)
        feats[f"cluster_{name}_others"] = np.bincount(labels, weights=mine, minlength=k)[labels] - mine
    others = feats["cluster_size"] - 1
    feats["cluster_blocked_others"] = np.divide(feats["cluster_blocked_others"], others,
                                                out=np.zeros(len(labels)), where=others > 0)
    feats["cluster_signup_burst"] = _signup_burst(labels, np.asarray(signup_ts, np.float64), k)[labels]
    return feats


def _signup_burst(labels: np.ndarray, ts: np.ndarray, k: int) -> np.ndarray:
    """Per cluster: most known signups in one window [t, t + BURST_WINDOW) / known signups.

    The busiest window can always start at a signup, so for every signup count the cluster's signups
    from it to BURST_WINDOW later: sort by (cluster, time), replace times by their global rank so
    (cluster, rank) packs into one exact int64 key, and find each window's end by binary search."""
    known = ~np.isnan(ts)
    lab, t = labels[known], ts[known]
    order = np.lexsort((t, lab))
    lab, t = lab[order], t[order]
    times = np.sort(t)
    times = times[_changes(times)]                              # distinct, sorted; rank = index
    width = len(times) + 1
    key = lab * width + np.searchsorted(times, t)
    end = lab * width + np.searchsorted(times, t + BURST_WINDOW)   # first rank outside the window
    in_window = np.searchsorted(key, end) - np.arange(len(key))
    best = np.zeros(k)
    starts = np.flatnonzero(_changes(lab))
    if len(lab):
        best[lab[starts]] = np.maximum.reduceat(in_window, starts)
    n_known = np.bincount(lab, minlength=k)
    return np.where(n_known >= 2, best / np.maximum(n_known, 1), np.nan)
