"""The client address behind trusted proxies: only a trusted hop may name its client."""
from __future__ import annotations

import pytest

from riskengine.forwarded import ProxyListError, TrustedProxies, client_address

EDGE = TrustedProxies.parse("10.0.0.0/8, 2001:db8:ffff::/48")


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says():
    assert client_address("203.0.113.7", "198.51.100.1", TrustedProxies()) == "203.0.113.7"


def test_a_trusted_proxy_names_its_client():
    assert client_address("10.1.2.3", "203.0.113.7", EDGE) == "203.0.113.7"


def test_a_forged_hop_left_of_the_real_client_is_ignored():
    # The farm sends "X-Forwarded-For: 1.1.1.1"; the edge appends the address it saw.
    assert client_address("10.1.2.3", "1.1.1.1, 203.0.113.7", EDGE) == "203.0.113.7"


def test_chains_of_trusted_proxies_are_walked_back():
    assert client_address("10.0.0.1", ["203.0.113.7, 10.9.9.9", "10.0.0.2"], EDGE) == "203.0.113.7"


def test_an_untrusted_peer_is_the_client_even_with_a_header():
    assert client_address("198.51.100.9", "203.0.113.7", EDGE) == "198.51.100.9"


def test_ipv6_ports_and_mapped_addresses():
    assert client_address("2001:db8:ffff::1", "[2001:db8:1::7]:443", EDGE) == "2001:db8:1::7"
    assert client_address("::ffff:10.0.0.1", "203.0.113.7:51000", EDGE) == "203.0.113.7"


def test_a_malformed_hop_stops_the_walk_at_the_last_trusted_answer():
    assert client_address("10.0.0.1", "203.0.113.7, garbage", EDGE) == "10.0.0.1"


def test_only_trusted_hops_all_the_way_gives_the_leftmost():
    assert client_address("10.0.0.1", "10.0.0.3, 10.0.0.2", EDGE) == "10.0.0.3"


def test_no_peer_address_gives_none():
    assert client_address(None, "203.0.113.7", EDGE) is None


def test_a_bad_cidr_names_itself():
    with pytest.raises(ProxyListError, match="'10.0.0.0/33'"):
        TrustedProxies.parse("10.0.0.0/33")
