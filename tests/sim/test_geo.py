"""The world's GeoIP databases read back with maxminddb as built."""

from __future__ import annotations

import ipaddress
import itertools

import maxminddb
import pytest

from riskengine.sim.geo import COUNTRIES, Geo, get_geo
from riskengine.sim.rand import Rand


@pytest.fixture(scope="module")
def geo():
    return get_geo()


@pytest.fixture(scope="module")
def dbs(geo, tmp_path_factory):
    paths = geo.write_geoip(tmp_path_factory.mktemp("geoip"))
    assert set(paths) == {"city", "asn", "anonymous", "connection_type", "enterprise"}
    readers = {k: maxminddb.open_database(str(p)) for k, p in paths.items()}
    yield readers
    for r in readers.values():
        r.close()


def test_database_types(dbs):
    assert dbs["city"].metadata().database_type == "GeoIP2-City"
    assert dbs["asn"].metadata().database_type == "GeoLite2-ASN"
    assert dbs["anonymous"].metadata().database_type == "GeoIP2-Anonymous-IP"
    assert dbs["connection_type"].metadata().database_type == "GeoIP2-Connection-Type"
    assert dbs["enterprise"].metadata().database_type == "GeoIP2-Enterprise"


def test_network_type_files_say_what_kind_of_network(geo, dbs):
    """Carriers are Cellular, homes Cable/DSL, campuses and offices Corporate, datacenters
    hosting; a residential-proxy exit looks like the line it runs on."""
    from riskengine.sim.geo import CAMPUS, HOSTING, MOBILE, RESI_PROXY, RESIDENTIAL
    want = {MOBILE: ("Cellular", "cellular"), RESIDENTIAL: ("Cable/DSL", "residential"),
            CAMPUS: ("Corporate", "university"), HOSTING: ("Corporate", "hosting")}
    r = Rand(3)
    for n in geo.networks:
        if n.version != 4 or n.kind not in want and n.kind != RESI_PROXY:
            continue
        ip = n.host(r)
        ct = dbs["connection_type"].get(ip)["connection_type"]
        traits = dbs["enterprise"].get(ip)["traits"]
        expected = n.parent.network_type() if n.kind == RESI_PROXY else want[n.kind]
        assert (ct, traits["user_type"]) == expected == (traits["connection_type"], traits["user_type"]), n.key


def test_geography_is_fixed(geo):
    other = Geo()
    assert [(n.key, str(n.network), n.anonymous) for n in other.networks] == \
           [(n.key, str(n.network), n.anonymous) for n in geo.networks]


def test_networks_are_public_and_disjoint(geo):
    bases = sorted((n for n in geo.networks if n.parent is None and n.version == 4),
                   key=lambda n: int(n.network.network_address))
    for a, b in itertools.pairwise(bases):
        assert not a.network.overlaps(b.network), (a.key, b.key)
    for n in geo.networks:
        assert n.network.network_address.is_global, n.key
        if n.parent is not None:
            assert n.network.subnet_of(n.parent.network)
        for ip in n.nat_pool:
            assert ipaddress.ip_address(ip) in n.network


def _lookup(dbs, ip):
    return dbs["city"].get(ip), dbs["asn"].get(ip), dbs["anonymous"].get(ip)


def test_every_network_reads_back(geo, dbs):
    r = Rand(9)
    for n in geo.networks:
        ip = n.address(r)
        city, asn, anon = _lookup(dbs, ip)
        # subnets (proxy exits, rented VPN exits) carry their parent block's location and ASN
        assert n.parent is None or (n.city, n.asn, n.org, n.accuracy_radius) == \
            (n.parent.city, n.parent.asn, n.parent.org, n.parent.accuracy_radius)
        assert city["country"]["iso_code"] == n.country, n.key
        assert city["registered_country"]["iso_code"] == n.registered_country
        loc = city["location"]
        assert loc["time_zone"] == n.city.tz and loc["latitude"] == n.city.lat and loc["longitude"] == n.city.lon
        assert loc["accuracy_radius"] == n.accuracy_radius
        assert asn == {"autonomous_system_number": n.asn, "autonomous_system_organization": n.org}
        m = geo.lookup(ip)  # the most specific network (a proxy subnet inside an ISP block, ...)
        assert m is n or m.parent is n
        flags = m.anonymous or (m.parent.anonymous if m.parent is not None else {})
        assert (anon or {}) == {k: True for k, v in flags.items() if v}, n.key


def test_classifies_as_built(geo, dbs):
    r = Rand(1)
    vpn = next(n for n in geo.vpn_exits["Shroud Networks"] if n.country == "JP")
    _, asn, anon = _lookup(dbs, vpn.host(r))
    assert anon["is_anonymous"] and anon["is_anonymous_vpn"]
    assert asn["autonomous_system_organization"] == "Shroud Networks"
    city, _, _ = _lookup(dbs, vpn.host(r))
    assert city["country"]["iso_code"] == "JP" and city["registered_country"]["iso_code"] == "PA"

    host = geo.hosting["Nimbus Compute"][0]
    _, asn, anon = _lookup(dbs, host.host(r))
    assert anon["is_hosting_provider"] and not anon.get("is_anonymous_vpn")
    assert asn["autonomous_system_number"] == host.asn

    flagged = [s for s in geo.resi_proxies["PeerMesh"] if s.anonymous]
    unflagged = [s for s in geo.resi_proxies["GhostLine"]]
    assert flagged and unflagged and not any(s.anonymous for s in unflagged)
    city, asn, anon = _lookup(dbs, flagged[0].host(r))
    assert anon["is_residential_proxy"] and anon["is_anonymous"]
    assert asn["autonomous_system_organization"] == flagged[0].parent.org  # an ISP's address
    assert not dbs["anonymous"].get(unflagged[0].host(r))  # real data is incomplete

    tor = geo.tor_exits[0]
    assert dbs["anonymous"].get(tor.address(r))["is_tor_exit_node"]

    home = geo.residential["DE"][0]
    ip = home.host(r)
    city, asn, anon = _lookup(dbs, ip)
    if any(ipaddress.ip_address(ip) in s.network for s in geo.networks if s.parent is home):
        pytest.skip("drew an address inside a proxy subnet")
    assert not anon
    assert city["country"]["iso_code"] == "DE" and city["location"]["time_zone"] == "Europe/Berlin"
    assert city["city"]["names"]["en"] == home.city.name
    assert asn["autonomous_system_number"] == home.asn

    mobile = geo.mobile["US"][0]
    assert mobile.nat_pool and not dbs["anonymous"].get(mobile.address(r))


def test_ipv6_reads_back(geo, dbs):
    r = Rand(2)
    v6 = [n for n in geo.networks if n.version == 6]
    assert v6
    for n in v6[:10]:
        ip = n.host(r)
        assert ipaddress.ip_address(ip).version == 6 and ipaddress.ip_address(ip).is_global
        city, asn, _ = _lookup(dbs, ip)
        assert city["country"]["iso_code"] == n.country and asn["autonomous_system_number"] == n.asn


def test_unknown_address_is_absent(dbs):
    assert dbs["city"].get("8.8.8.8") is None
    assert dbs["asn"].get("192.0.2.1") is None
    assert not dbs["anonymous"].get("203.0.113.5")


def test_world_write_geoip(tmp_path):
    from riskengine.sim import build_world
    w = build_world(seed=2, accounts=200, days=7)
    paths = w.write_geoip(tmp_path)
    with maxminddb.open_database(str(paths["city"])) as reader:
        for e in w.events[:200]:
            assert reader.get(e.body["ip"])["country"]["iso_code"] == w.geo.lookup(e.body["ip"]).country
    assert all(c in COUNTRIES for c in ("US", "GB", "DE", "RU", "CN", "IR", "KP"))
