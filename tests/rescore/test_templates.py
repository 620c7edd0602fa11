"""Prompt-template sharing: near-duplicate simhash fingerprints across accounts."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from riskengine.rescore import templates
from riskengine.rescore.templates import near_duplicate_pairs, template_families, template_sharing

U = np.uint64
BASE = U(0x9E3779B97F4A7C15)


def flip(fp, *bits):
    for b in bits:
        fp = fp ^ (U(1) << U(b))
    return U(fp)


def pairs(account, fingerprint, **kw):
    a, b = near_duplicate_pairs(np.asarray(account), np.asarray(fingerprint, np.uint64), **kw)
    return set(zip(a.tolist(), b.tolist(), strict=True))


def brute_pairs(account, fingerprint, max_distance=3):
    rows = [(a, f) for a, f in zip(np.asarray(account).tolist(), np.asarray(fingerprint).tolist(), strict=True) if f]
    return {(min(a, b), max(a, b)) for (a, f), (b, g) in combinations(rows, 2)
            if a != b and bin(f ^ g).count("1") <= max_distance}


def test_exact_duplicates_across_accounts():
    assert pairs([0, 1, 2], [BASE, BASE, BASE]) == {(0, 1), (0, 2), (1, 2)}
    np.testing.assert_array_equal(template_sharing([0, 1, 2], np.array([BASE] * 3), 4), [2, 2, 2, 0])


@pytest.mark.parametrize("bits", [(5,), (0, 63), (1, 20, 40), (15, 16, 17)])
def test_one_to_three_flips_are_found(bits):
    assert pairs([0, 1], [BASE, flip(BASE, *bits)]) == {(0, 1)}


@pytest.mark.parametrize("bits", [(1, 2, 3, 4), (0, 13, 26, 39, 52), tuple(range(0, 64, 2))])
def test_four_or_more_flips_are_not(bits):
    assert pairs([0, 1], [BASE, flip(BASE, *bits)]) == set()
    np.testing.assert_array_equal(template_sharing([0, 1], np.array([BASE, flip(BASE, *bits)]), 2), [0, 0])


def test_max_distance_and_one_band_per_table():
    near4 = flip(BASE, 1, 2, 3, 4)
    assert pairs([0, 1], [BASE, near4], max_distance=4, bands=6) == {(0, 1)}
    assert pairs([0, 1], [BASE, flip(BASE, 1, 30, 60)], bands=4) == {(0, 1)}    # bands = d + 1
    assert pairs([0, 1], [BASE, BASE], max_distance=0) == {(0, 1)}
    with pytest.raises(ValueError):
        pairs([0, 1], [BASE, BASE], max_distance=3, bands=3)


def test_same_account_own_fingerprints_dont_count():
    acc = [7, 7, 7, 7]
    fps = [BASE, BASE, flip(BASE, 3), flip(BASE, 9, 10)]
    assert pairs(acc, fps) == set()
    np.testing.assert_array_equal(template_sharing(acc, np.array(fps), 8), np.zeros(8))


def test_fingerprint_zero_is_ignored():
    assert pairs([0, 1, 2], [0, 0, 1]) == set()                # 0 and 1 are one bit apart
    np.testing.assert_array_equal(template_sharing([0, 1, 2], np.array([0, 0, 1], np.uint64), 3), [0, 0, 0])
    np.testing.assert_array_equal(template_families([0, 1], np.array([0, 5], np.uint64)), [-1, 0])


def test_empty_input():
    assert pairs(np.zeros(0, np.int64), np.zeros(0, np.uint64)) == set()
    np.testing.assert_array_equal(template_sharing(np.zeros(0, np.int64), np.zeros(0, np.uint64), 3),
                                  [0, 0, 0])


def test_matches_brute_force_on_random_families():
    rng = np.random.default_rng(1)
    for _ in range(20):
        base = rng.integers(1, 2**63, 4, dtype=np.uint64)
        acc = rng.integers(0, 20, 60)
        fps = base[rng.integers(0, 4, 60)]
        for k in range(60):
            fps[k] = flip(fps[k], *rng.choice(64, rng.integers(0, 6), replace=False))
        fps[rng.random(60) < 0.1] = 0
        assert pairs(acc, fps) == brute_pairs(acc, fps)


def test_sharing_counts_distinct_others_over_families():
    # 0,1,2 share template A (1 flip apart); 2,3 share B; 4 alone. 2 sees 0,1,3.
    a, b = BASE, U(0x0123456789ABCDEF)
    acc = [0, 1, 2, 2, 3, 4, 0]
    fps = np.array([a, flip(a, 7), a, b, flip(b, 1, 2), U(0xFFFF0000FFFF0000), a], np.uint64)
    np.testing.assert_array_equal(template_sharing(acc, fps, 6), [2, 2, 3, 1, 0, 0])


def test_sharing_matches_pair_degree_without_chains():
    rng = np.random.default_rng(3)
    base = rng.integers(1, 2**63, 6, dtype=np.uint64)
    acc = rng.integers(0, 40, 200)
    fps = base[rng.integers(0, 6, 200)]
    one = rng.random(200) < 0.5                                # variants at most 1 flip from the base
    fps[one] = [flip(f, int(b)) for f, b in zip(fps[one], rng.integers(0, 64, one.sum()), strict=True)]
    a, b = near_duplicate_pairs(acc, fps)                      # 2 apart at most: no chains at d=3
    degree = np.bincount(np.r_[a, b], minlength=40)
    np.testing.assert_array_equal(template_sharing(acc, fps, 40), degree)


def test_exact_duplicate_template_shared_by_5000_accounts():
    n = 5_000
    acc = np.r_[np.arange(n), np.arange(n), [n]]
    fps = np.r_[np.full(n, BASE), np.arange(1, n + 1, dtype=np.uint64) << U(20), U(0xABCDEF)]
    got = template_sharing(acc, fps, n + 1)
    assert (got[:n] == n - 1).all() and got[n] == 0


def test_several_families_union_exactly_around_one_heavy_family():
    # A: accounts 0..1099 (> HEAVY_FAMILY); C: accounts 1090..1119. 1090..1099 are in both.
    c = U(0x0123456789ABCDEF)
    acc = np.r_[np.arange(1_100), np.arange(1_090, 1_120)]
    fps = np.r_[np.full(1_100, BASE), np.full(30, c)]
    got = template_sharing(acc, fps, 1_120)
    assert (got[:1_090] == 1_099).all()
    assert (got[1_090:1_100] == 1_119).all()                   # 1,100 + 20 only in C - itself
    assert (got[1_100:] == 29).all()


def test_two_heavy_families_count_the_largest_as_lower_bound():
    # A: accounts 0..1199, B: 1150..2299 (both > HEAVY_FAMILY); 1150..1199 are in both.
    acc = np.r_[np.arange(1_200), np.arange(1_150, 2_300)]
    fps = np.r_[np.full(1_200, BASE), np.full(1_150, U(0x0123456789ABCDEF))]
    got = template_sharing(acc, fps, 2_300)
    assert (got[:1_150] == 1_199).all() and (got[1_200:] == 1_149).all()
    assert (got[1_150:1_200] == 1_199).all()                   # true 2,299: B's extra members left out


def test_big_bucket_uses_representatives():
    # 400 distinct variants of one template (1-3 flips inside the low 26 bits, so they fill one bucket
    # of the keys that skip those bits), sent by 400 accounts; the centre by 50 more accounts.
    rng = np.random.default_rng(7)
    variants = {flip(BASE, *rng.choice(26, rng.integers(1, 4), replace=False)) for _ in range(3_000)}
    variants = np.array(sorted(variants - {BASE}), np.uint64)[:400]
    acc = np.r_[np.arange(400), np.arange(400, 450)]
    fps = np.r_[variants, np.full(50, BASE)]
    u = templates._Usage(acc, fps)
    assert len(templates._near_links(u.fps, u.count, 3, 5, 64)[2])  # representative groups were used
    got = template_sharing(acc, fps, 451, max_bucket=64)
    assert (got[:450] == 449).all() and got[450] == 0
    a, b = near_duplicate_pairs(acc, fps, max_bucket=64)
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    assert brute_pairs(acc, fps) <= found                       # every true pair, plus some up to 2d apart
    assert len(found) == 450 * 449 // 2


def test_random_fingerprints_make_almost_no_pairs():
    rng = np.random.default_rng(11)
    acc = rng.integers(0, 50_000, 200_000)
    fps = rng.integers(1, 2**64 - 1, 200_000, dtype=np.uint64)
    a, _ = near_duplicate_pairs(acc, fps)
    assert len(a) <= 1
    assert template_sharing(acc, fps, 50_000).sum() <= 2


def test_independent_of_input_order():
    rng = np.random.default_rng(5)
    base = rng.integers(1, 2**63, 5, dtype=np.uint64)
    acc = rng.integers(0, 100, 2_000)
    fps = base[rng.integers(0, 5, 2_000)]
    for k in range(0, 2_000, 3):
        fps[k] = flip(fps[k], *rng.choice(64, rng.integers(1, 5), replace=False))
    kw = dict(max_bucket=16)                                   # exercise the representative path too
    ref_pairs = near_duplicate_pairs(acc, fps, **kw)
    ref_sharing = template_sharing(acc, fps, 100, **kw)
    for _ in range(3):
        perm = rng.permutation(2_000)
        got = near_duplicate_pairs(acc[perm], fps[perm], **kw)
        np.testing.assert_array_equal(got[0], ref_pairs[0])
        np.testing.assert_array_equal(got[1], ref_pairs[1])
        np.testing.assert_array_equal(template_sharing(acc[perm], fps[perm], 100, **kw), ref_sharing)


def test_popcount_by_bytes_matches_bit_count():
    x = np.random.default_rng(0).integers(0, 2**64 - 1, 1_000, dtype=np.uint64)
    expected = [bin(v).count("1") for v in x.tolist()]
    np.testing.assert_array_equal(templates._popcount_by_bytes(x), expected)
    np.testing.assert_array_equal(templates._popcount(x), expected)
