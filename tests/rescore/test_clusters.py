"""Account clusters from shared identifiers: edges, components, per-account cluster features."""
from __future__ import annotations

import math

import numpy as np
import pytest

from riskengine.rescore.clusters import KINDS, cluster_features, components, link_edges, rarity

LN200 = math.log(200)


def rows(*groups):
    """(kind, entity, accounts) groups -> kind, entity, account arrays."""
    kind = [k for k, _, accts in groups for _ in accts]
    entity = [e for _, e, accts in groups for _ in accts]
    account = [a for _, _, accts in groups for a in accts]
    return np.array(kind, object), np.array(entity, np.int64), np.array(account, np.int64)


def edges(*groups, **kw):
    s, d, w = link_edges(*rows(*groups), **kw)
    return {(int(a), int(b)): float(x) for a, b, x in zip(s, d, w, strict=True)}


def same_cluster(labels, accounts):
    return len(set(labels[list(accounts)].tolist())) == 1


def test_rarity_formula():
    assert rarity(2, 200) == 1.0
    assert rarity(12, 200) == pytest.approx(1 - math.log(11) / LN200)
    assert rarity(200, 200) == pytest.approx(1 - math.log(199) / LN200)
    assert rarity(201, 200) == 0.0


def test_pair_gets_full_kind_weight_and_small_groups_all_pairs():
    assert edges(("payment", 1, [4, 9])) == {(4, 9): 1.0}
    w = 0.5 * (1 - math.log(2) / LN200)
    assert edges(("ip", 7, [3, 1, 2])) == pytest.approx({(1, 2): w, (1, 3): w, (2, 3): w})


def test_big_group_gives_star_from_lowest_account_with_group_weight():
    got = edges(("device", 5, list(range(20, 8, -1))))          # 12 accounts, 9..20
    w = 0.9 * (1 - math.log(11) / LN200)
    assert got == pytest.approx({(9, b): w for b in range(10, 21)})


def test_group_by_kind_and_entity_and_repeated_rows():
    # entity 5 is a phone of 0, 1 and an ip of 1, 2: two groups of two, not one of three.
    got = edges(("phone", 5, [0, 1, 1, 0]), ("ip", 5, [1, 2, 2]))
    assert got == {(0, 1): 1.0, (1, 2): 0.5}


def test_kind_codes_equal_names_and_unknown_kind_fails():
    kind, entity, account = rows(("payment", 1, [0, 1]), ("subnet", 2, [1, 2]))
    codes = np.array([KINDS.index(k) for k in kind])
    for a, b in zip(link_edges(kind, entity, account), link_edges(codes, entity, account), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown link kind 'fax'"):
        link_edges(np.array(["fax"]), np.array([1]), np.array([0]))
    with pytest.raises(ValueError, match="unknown link kind 9"):
        link_edges(np.array([9]), np.array([1]), np.array([0]))
    with pytest.raises(ValueError, match="unknown link kind .fax."):
        link_edges(np.array(["ip", "fax"], object), np.array([1, 1]), np.array([0, 1]))


def test_groups_above_max_group_give_no_edges():
    assert len(edges(("ip", 1, list(range(201))))) == 0
    assert len(edges(("ip", 1, list(range(200))))) == 199
    assert len(edges(("ip", 1, list(range(11))), max_group=10)) == 0


def test_strong_card_link_joins_and_nat_ip_does_not():
    n = 600
    kind, entity, account = rows(("payment", 42, list(range(12))),           # card: 0..11
                                 ("ip", 99, list(range(100, 600))))          # NAT: 500 accounts
    labels = components(n, *link_edges(kind, entity, account))
    assert same_cluster(labels, range(12))
    assert np.bincount(labels)[labels[100:]].max() == 1                        # all singletons
    assert labels.max() + 1 == 1 + 588


def test_one_weak_link_does_not_join():
    labels = components(10, *link_edges(*rows(("ip", 1, list(range(10))))))   # 0.29 < 0.3
    assert labels.max() + 1 == 10


def test_two_weak_links_of_different_families_combine():
    # ip shared by 0..9 (0.293) and hardware components by 0..19 (0.267): both stars from 0.
    kind, entity, account = rows(("ip", 1, list(range(10))), ("components", 2, list(range(20))))
    labels = components(20, *link_edges(kind, entity, account))
    assert same_cluster(labels, range(10))
    assert np.bincount(labels)[labels[10:]].max() == 1


def test_ip_and_its_subnet_do_not_double_count():
    kind, entity, account = rows(("ip", 1, list(range(10))), ("subnet", 2, list(range(10))))
    src, dst, weight = link_edges(kind, entity, account)
    assert weight == pytest.approx(0.5 * (1 - math.log(9) / LN200))
    assert components(10, src, dst, weight).max() + 1 == 10


def test_components_sum_parallel_edges_either_direction():
    src, dst, w = np.array([0, 1, 2, 3, 4]), np.array([1, 0, 3, 3, 5]), np.array([0.2, 0.15, 0.2, 0.9, 0.29])
    labels = components(7, src, dst, w)
    assert labels.tolist() == [0, 0, 1, 2, 3, 4, 5]              # 0-1 summed 0.35; self-loop ignored
    assert components(3, np.zeros(0, int), np.zeros(0, int), np.zeros(0)).tolist() == [0, 1, 2]


def test_cluster_features_exclude_self():
    labels = np.array([0, 0, 0, 1, 2, 2])
    blocked = np.array([1, 0, 0, 1, 0, 0], bool)
    fraud = np.array([0, 1, 1, 0, 0, 0], bool)
    legit = np.array([0, 0, 0, 0, 1, 0], bool)
    ts = np.array([0.0, 1800.0, 7200.0, 5.0, 100.0, np.nan])
    f = cluster_features(labels, blocked, fraud, legit, ts)
    assert f["cluster_size"].tolist() == [3, 3, 3, 1, 2, 2]
    assert f["cluster_blocked_others"].tolist() == [0, 0.5, 0.5, 0, 0, 0]
    assert f["cluster_fraud_others"].tolist() == [2, 1, 1, 0, 0, 0]
    assert f["cluster_legit_others"].tolist() == [0, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(f["cluster_signup_burst"], [2 / 3, 2 / 3, 2 / 3, np.nan, np.nan, np.nan])
    assert all(v.dtype == np.float64 and len(v) == 6 for v in f.values())


def test_signup_burst_window_is_one_hour_half_open():
    labels = np.zeros(4, np.int64)
    ts = np.array([1.7e9, 1.7e9 + 3600, 1.7e9 + 3599.5, np.nan])
    f = cluster_features(labels, *(np.zeros(4, bool),) * 3, ts)
    np.testing.assert_allclose(f["cluster_signup_burst"], [2 / 3] * 4)    # unknown time: still the cluster's
    ts = np.array([10.0, 20.0, 30.0, 40.0])                                # all within the hour
    f = cluster_features(np.array([1, 1, 0, 1]), *(np.zeros(4, bool),) * 3, ts)
    np.testing.assert_allclose(f["cluster_signup_burst"], [1, 1, np.nan, 1])


def test_end_to_end_small_graph():
    # Farm 0..3: one card, one device; 4 joins by an IP shared with 3 (pair: 0.5); 5..6 share a subnet.
    kind, entity, account = rows(("payment", 1, [0, 1, 2, 3]), ("device", 2, [0, 1, 2, 3]),
                                 ("ip", 3, [3, 4]), ("subnet", 4, [5, 6]))
    labels = components(8, *link_edges(kind, entity, account))
    assert same_cluster(labels, range(5)) and len(set(labels.tolist())) == 4
    blocked = np.array([1, 1, 0, 0, 0, 0, 0, 0], bool)
    f = cluster_features(labels, blocked, np.zeros(8, bool), np.zeros(8, bool), np.full(8, np.nan))
    assert f["cluster_blocked_others"].tolist() == [0.25, 0.25, 0.5, 0.5, 0.5, 0, 0, 0]
    assert np.isnan(f["cluster_signup_burst"]).all()


def test_scale_smoke_one_million_accounts():
    rng = np.random.default_rng(0)
    n, r = 1_000_000, 3_000_000
    code = rng.integers(0, len(KINDS), r)
    pool = np.bincount(code, minlength=len(KINDS)) * 3        # mostly unshared identifiers
    entity = (rng.random(r) * pool[code]).astype(np.int64)
    account = rng.integers(0, n, r)
    src, dst, weight = link_edges(np.array(KINDS, object)[code], entity, account)
    labels = components(n, src, dst, weight)
    assert len(labels) == n and labels.min() == 0
    ts = 1.7e9 + rng.random(n) * 3e7
    f = cluster_features(labels, rng.random(n) < 0.02, rng.random(n) < 0.01, rng.random(n) < 0.05, ts)
    assert all(len(v) == n for v in f.values())
    assert (f["cluster_blocked_others"] <= 1).all()
