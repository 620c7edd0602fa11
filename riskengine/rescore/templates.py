"""Prompt-template sharing: accounts that send near-identical prompts.

Usage records carry `prompt_fingerprint`, a 64-bit simhash of the prompt (0 = none). Distillation
farms spread one prompt template over many accounts, so near-identical fingerprints across accounts
are evidence of a farm. Pure numpy/scipy over arrays: the re-scoring batch job calls this with millions
of usage rows, accounts as dense indexes 0..n_accounts-1.

Finding near neighbours without an all-pairs scan (pigeonhole banding, as in Manku et al. 2007):
split the 64 bits into `bands` equal-width blocks. Two fingerprints within `max_distance` bits differ
in at most `max_distance` blocks, so they agree exactly on at least `bands - max_distance` of them.
Bucketing by every combination of `bands - max_distance` blocks (C(bands, max_distance) tables) finds
every near pair; candidates are then verified by popcount. With bands = max_distance + 1 this is
"agree on at least one band" with one table per band. More bands make each key wider (fewer random
collisions, much less verifying) at the cost of more tables: bands=5, max_distance=3 is 10 tables keyed
on ~26 bits; bands=4 would key on 16 bits, and 4M distinct random fingerprints then put ~60 in every
bucket: measured on 3.7M distinct fingerprints, 426M candidate pairs for bands=4 against 50M for
bands=5 (mostly true near pairs of farm templates) and 70M for bands=6 (20 tables). Hence bands=5.

Oversized buckets (more than `max_bucket` distinct fingerprints: one template sent in thousands of
slightly different versions) are not enumerated pairwise. Each member is compared with the bucket's
few most frequent fingerprints (the "representatives": the template's centre is usually the version
most accounts sent). For pairs, each member joins the group of its most frequent close representative
(the representative is in its own group) and all fingerprints of a group count as near each other;
for template families, every close representative links. Approximation: two members of a group can
be up to 2 * max_distance apart, and near members that don't share a first close representative are
missed unless another table brings them together in an ordinary bucket.
"""
from __future__ import annotations

from itertools import combinations, pairwise

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from riskengine.rescore.runs import pairs_within as _pairs_within
from riskengine.rescore.runs import ranks as _ranks

REPRESENTATIVES = 8            # per oversized bucket: a few, so the cost stays members x 8
HEAVY_FAMILY = 1024            # template_sharing expands families up to this many accounts
_EXPAND_CHUNK = 20_000_000     # rows materialised at once when unioning account sets

_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _popcount_by_bytes(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 via a per-byte table: numpy < 2 has no bitwise_count."""
    x = np.ascontiguousarray(x, np.uint64)
    return _BYTE_BITS[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1, dtype=np.uint8)


_popcount = getattr(np, "bitwise_count", _popcount_by_bytes)   # numpy >= 2: one instruction each


# ---- run helpers: sorted arrays cut into runs (start, size) -----------------------------------

def _pairs_across(starts_a, sizes_a, starts_b, sizes_b) -> tuple[np.ndarray, np.ndarray]:
    """Positions (p, q) of every p in run a_k with every q in run b_k."""
    n = sizes_a * sizes_b
    k = np.repeat(np.arange(len(n)), n)
    r = _ranks(n)
    return starts_a[k] + r // sizes_b[k], starts_b[k] + r % sizes_b[k]


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, size) of the runs of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return starts, np.diff(np.r_[starts, len(sorted_keys)])


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """np.unique without its hash path (numpy >= 2.3 hashes when no inverse is asked: ~10x slower
    than sorting on millions of int64)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if len(x) else x


def _unique_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (a, b) rows of non-negative ints, sorted by a then b."""
    if len(a) == 0:
        return a.astype(np.int64), b.astype(np.int64)
    width = int(b.max()) + 1
    if int(a.max()) < np.iinfo(np.int64).max // width:       # fits one int64 key: one fast sort
        key = _sorted_unique(a.astype(np.int64) * width + b)
        return key // width, key % width
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    keep = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    return a[keep].astype(np.int64), b[keep].astype(np.int64)


# ---- fingerprint level ----------------------------------------------------------------------

class _Usage:
    """Distinct (fingerprint, account) memberships, sorted by fingerprint then account."""

    def __init__(self, account, fingerprint):
        account = np.asarray(account, np.int64)
        fingerprint = np.asarray(fingerprint, np.uint64)
        if account.shape != fingerprint.shape:
            raise ValueError("account and fingerprint must have the same length")
        if len(account) and account.min() < 0:
            raise ValueError("account indexes must be >= 0")
        keep = fingerprint != 0                      # 0 = no fingerprint recorded
        self.fps, inverse = np.unique(fingerprint[keep], return_inverse=True)
        self.fp, self.account = _unique_pairs(inverse.reshape(-1), account[keep])
        self.count = np.bincount(self.fp, minlength=len(self.fps))   # distinct accounts per fingerprint
        self.start = np.cumsum(self.count) - self.count


def _band_masks(bands: int, max_distance: int) -> list[np.uint64]:
    """One bit mask per table: the union of `bands - max_distance` of the equal-width blocks."""
    if not 0 <= max_distance < bands <= 64:
        raise ValueError("need 0 <= max_distance < bands <= 64")
    cuts = [round(64 * i / bands) for i in range(bands + 1)]
    blocks = [((1 << (hi - lo)) - 1) << lo for lo, hi in pairwise(cuts)]
    return [np.uint64(sum(blocks[i] for i in c)) for c in combinations(range(bands), bands - max_distance)]


def _representative_groups(members, bucket, n_buckets, fps, count, max_distance):
    """Oversized buckets: (rep, member, first) for every member within max_distance of one of its
    bucket's REPRESENTATIVES most frequent fingerprints; `first` marks the member's most frequent close
    representative (one group per member and bucket: the pairs are then one clique per template centre
    instead of one per representative). `bucket` is sorted."""
    order = np.lexsort((members, -count[members], bucket))          # most accounts first in each bucket
    members, bucket = members[order], bucket[order]
    start = np.searchsorted(bucket, np.arange(n_buckets))
    reps = members[start[:, None] + np.arange(REPRESENTATIVES)]    # buckets hold > R members
    close = _popcount(fps[members][:, None] ^ fps[reps[bucket]]) <= max_distance
    row, r = np.nonzero(close)                                      # row-major: r ascends per row
    first = np.r_[True, row[1:] != row[:-1]] if len(row) else np.zeros(0, bool)
    return reps[bucket[row], r], members[row], first


def _near_links(fps, count, max_distance, bands, max_bucket):
    """Near links between distinct fingerprints (indexes into fps): verified pairs (i, j), i < j, each
    once, from ordinary buckets, and (rep, member, first) rows from oversized ones."""
    if max_bucket < REPRESENTATIVES:
        raise ValueError(f"max_bucket must be >= {REPRESENTATIVES}")
    masks = _band_masks(bands, max_distance)
    pi, pj, reps, members, first = [], [], [], [], []
    for t, mask in enumerate(masks):
        key = fps & mask
        order = np.argsort(key)
        starts, sizes = _runs(key[order])
        small = (sizes > 1) & (sizes <= max_bucket)
        p, q = _pairs_within(starts[small], sizes[small])
        i, j = order[p], order[q]
        diff = fps[i] ^ fps[j]
        keep = _popcount(diff) <= max_distance
        for earlier in masks[:t]:      # a pair agreeing on an earlier key was found there already
            keep &= (diff & earlier) != 0
        pi.append(np.minimum(i, j)[keep])
        pj.append(np.maximum(i, j)[keep])
        big = sizes > max_bucket
        if big.any():
            n_big = int(big.sum())
            rep, m, f = _representative_groups(order[np.repeat(starts[big], sizes[big]) + _ranks(sizes[big])],
                                               np.repeat(np.arange(n_big), sizes[big]), n_big,
                                               fps, count, max_distance)
            reps.append(rep)
            members.append(m)
            first.append(f)

    def cat(xs, dtype=np.int64):
        return np.concatenate(xs) if xs else np.zeros(0, dtype)

    return cat(pi), cat(pj), cat(reps), cat(members), cat(first, bool)


def _families(usage: _Usage, max_distance: int = 3, bands: int = 5, max_bucket: int = 256) -> np.ndarray:
    """Template family per distinct fingerprint: connected components of the near links (a star from
    each representative is enough for connectivity)."""
    i, j, rep, member, _ = _near_links(usage.fps, usage.count, max_distance, bands, max_bucket)
    n = len(usage.fps)
    src, dst = np.r_[i, rep], np.r_[j, member]
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1].astype(np.int64)


# ---- account level --------------------------------------------------------------------------

def near_duplicate_pairs(account: np.ndarray, fingerprint: np.ndarray, max_distance: int = 3,
                         bands: int = 5, max_bucket: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Distinct account pairs (a < b) that sent fingerprints within `max_distance` bits (Hamming).

    Input rows may repeat; fingerprint 0 is ignored. Every combination of `bands - max_distance` of
    `bands` equal-width blocks is a bucketing key (see the module docstring: with bands > max_distance
    every near pair agrees exactly on one such key); candidates are verified by popcount. Oversized
    buckets use representatives (approximate, see the module docstring). The default bands=5 keys on
    ~26 bits so millions of random fingerprints make almost no candidates; bands = max_distance + 1
    is the one-band-per-table scheme. Returns int64 arrays sorted by (a, b).

    The output is all pairs by definition, so 5,000 accounts sharing one template give 12.5M pairs:
    use `template_sharing` for counts."""
    u = _Usage(account, fingerprint)
    i, j, rep, member, first = _near_links(u.fps, u.count, max_distance, bands, max_bucket)
    shared = u.count > 1
    p1, q1 = _pairs_within(u.start[shared], u.count[shared])                  # same fingerprint
    p2, q2 = _pairs_across(u.start[i], u.count[i], u.start[j], u.count[j])    # verified near pair
    # Representative groups, one per representative over all tables (the representative in its own
    # group too): all pairs of the accounts of their member fingerprints.
    rep, member = _unique_pairs(np.r_[rep[first], rep], np.r_[member[first], rep])
    rows = np.repeat(u.start[member], u.count[member]) + _ranks(u.count[member])
    g, acc = _unique_pairs(np.repeat(rep, u.count[member]), u.account[rows])
    starts, sizes = _runs(g)
    p3, q3 = _pairs_within(starts, sizes)
    a = np.concatenate([u.account[p1], u.account[p2], acc[p3]])
    b = np.concatenate([u.account[q1], u.account[q2], acc[q3]])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    other = lo != hi                                   # an account's own fingerprints don't count
    return _unique_pairs(lo[other], hi[other])


def template_families(account: np.ndarray, fingerprint: np.ndarray, max_distance: int = 3,
                      bands: int = 5, max_bucket: int = 256) -> np.ndarray:
    """Template family id per input row (int64, -1 where fingerprint is 0): connected components of
    near fingerprints. Feed to clusters.link_edges as kind "template", entity = family."""
    fingerprint = np.asarray(fingerprint, np.uint64)
    u = _Usage(account, fingerprint)
    family = _families(u, max_distance, bands, max_bucket)
    out = np.full(len(fingerprint), -1, np.int64)
    keep = fingerprint != 0
    out[keep] = family[np.searchsorted(u.fps, fingerprint[keep])]
    return out


def template_sharing(account: np.ndarray, fingerprint: np.ndarray, n_accounts: int, **kw) -> np.ndarray:
    """Per account (length n_accounts, int64): how many OTHER accounts sent a near-identical fingerprint.

    `kw`: max_distance, bands, max_bucket as for near_duplicate_pairs. Counted over template families
    (connected components of near fingerprints, see template_families) instead of materialised account
    pairs: an account's count is the number of distinct other accounts in the families it sent. Where
    no family chains (A~B, B~C, A and C further apart) this is its number of partners in
    near_duplicate_pairs; a chain joins the family, which is what one template with varying fill-ins
    looks like. An account in one shared family gets size - 1 (5,000 accounts on one template: 4,999
    each, O(5,000) work); several families are unioned by `_union_sizes` (exact unless the account is in
    two or more families of more than HEAVY_FAMILY accounts)."""
    u = _Usage(account, fingerprint)
    if len(u.account) and u.account.max() >= n_accounts:
        raise ValueError("account index >= n_accounts")
    family = _families(u, **kw)
    fam, acc = _unique_pairs(family[u.fp], u.account)          # sorted by family, then account
    size = np.bincount(fam)                                    # distinct accounts per family
    shared = size[fam] > 1                                     # a family only I sent says nothing
    fam, acc = fam[shared], acc[shared]
    out = np.zeros(n_accounts, np.int64)
    single = np.bincount(acc, minlength=n_accounts)[acc] == 1
    out[acc[single]] = size[fam[single]] - 1                   # the common case: one shared family
    multi = _union_sizes(fam, acc, ~single, size)
    out[multi[0]] = multi[1]
    return out


def _union_sizes(fam, acc, multi, size) -> tuple[np.ndarray, np.ndarray]:
    """(accounts, distinct other accounts) for accounts in several shared families.

    Exact union sizes cost as much as the account pairs when accounts hold different family sets, so:
    each account's largest family L counts in full (its size); the members of its other families of
    at most HEAVY_FAMILY accounts are expanded and counted when not in L; other families above
    HEAVY_FAMILY are left out (a lower bound, only for accounts holding two such families, e.g. two
    prompts everybody sends). Work is then at most HEAVY_FAMILY per (account, family) row. Accounts
    with the same (L, other families) share the answer, so each distinct set is expanded once: a farm
    whose 5,000 accounts all send the same 10 templates costs 10 x 5,000 rows, not 5,000^2.
    `fam, acc` are sorted by family, then account; `multi` marks the rows to answer."""
    if not multi.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    by_acc = np.lexsort((fam[multi], -size[fam[multi]], acc[multi]))   # per account, largest first
    m_acc, m_fam = acc[multi][by_acc], fam[multi][by_acc]
    starts, _ = _runs(m_acc)
    owners, largest = m_acc[starts], m_fam[starts]
    light = size[m_fam] <= HEAVY_FAMILY
    light[starts] = False                                       # L itself counts by its size
    # Signature of (L, light families): independent random 64-bit sums (wrapping); L gets its own
    # hashes. A collision needs ~2^64 distinct sets.
    h = np.random.default_rng(0).integers(0, 2**63, (4, len(size)), dtype=np.uint64)
    zero = np.uint64(0)
    s1 = h[0][largest] + np.add.reduceat(np.where(light, h[2][m_fam], zero), starts)
    s2 = h[1][largest] + np.add.reduceat(np.where(light, h[3][m_fam], zero), starts)
    owner_row = np.repeat(np.arange(len(owners)), np.diff(np.r_[starts, len(m_fam)]))
    order = np.lexsort((s2, s1))
    new = np.r_[True, (s1[order][1:] != s1[order][:-1]) | (s2[order][1:] != s2[order][:-1])]
    sig = np.empty(len(owners), np.int64)
    sig[order] = np.cumsum(new) - 1
    first = order[new]                                          # one account per signature
    # Expand the light families of each signature's account, dedupe, drop members of L.
    is_first = np.zeros(len(owners), bool)
    is_first[first] = True
    rows = np.flatnonzero(light & is_first[owner_row])
    row_sig = sig[owner_row[rows]]
    rows = rows[np.argsort(row_sig, kind="stable")]
    row_sig = sig[owner_row[rows]]
    width = int(acc.max()) + 1
    member_key = fam * width + acc                              # sorted: membership test by search
    extra = np.zeros(len(first), np.int64)
    cost = size[m_fam[rows]]
    chunk = (np.cumsum(cost) - cost) // _EXPAND_CHUNK
    chunk = chunk[np.searchsorted(row_sig, row_sig)]            # a signature never straddles chunks
    for lo, n in zip(*_runs(chunk), strict=True):
        f, s = m_fam[rows[lo:lo + n]], row_sig[lo:lo + n]
        members = acc[np.repeat(np.searchsorted(fam, f), size[f]) + _ranks(size[f])]
        s, members = _unique_pairs(np.repeat(s, size[f]), members)
        key = largest[first[s]] * width + members
        pos = np.minimum(np.searchsorted(member_key, key), len(member_key) - 1)
        outside = member_key[pos] != key
        extra += np.bincount(s[outside], minlength=len(first))
    return owners, size[largest] + extra[sig] - 1
