import ipaddress
import json
from pathlib import Path

import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from riskengine.signals.ip import (
    GeoIPReaders,
    embedded_ipv4,
    globally_reachable,
    ip_signals,
    subnet_of,
)

MM = Path(__file__).resolve().parents[1] / "data" / "maxmind"
CITY = str(MM / "GeoIP2-City-Test.mmdb")
COUNTRY = str(MM / "GeoIP2-Country-Test.mmdb")
ASN = str(MM / "GeoLite2-ASN-Test.mmdb")
ANON = str(MM / "GeoIP2-Anonymous-IP-Test.mmdb")
ANON_KEYS = ("anonymous", "vpn", "hosting", "tor", "residential_proxy", "public_proxy")


@pytest.fixture(scope="module")
def readers():
    r = GeoIPReaders.open(CITY, ASN, ANON)
    yield r
    r.close()


def anon(s):
    return {k: getattr(s, k) for k in ANON_KEYS}


def test_city_record(readers):
    s = ip_signals("81.2.69.142", readers)
    assert (s.version, s.private, s.subnet) == (4, False, "81.2.69.0/24")
    assert s.country == "GB"  # the location country, not registered_country (US)
    assert (s.latitude, s.longitude, s.accuracy_km, s.timezone) == (51.5142, -0.0931, 10, "Europe/London")


def test_other_city_records(readers):
    s = ip_signals("216.160.83.56", readers)
    assert (s.country, s.accuracy_km, s.timezone) == ("US", 22, "America/Los_Angeles")
    s = ip_signals("89.160.20.112", readers)
    assert (s.country, s.latitude, s.longitude) == ("SE", 58.4167, 15.6167)


def test_asn_record(readers):
    s = ip_signals("1.128.0.0", readers)
    assert (s.asn, s.as_org) == (1221, "Telstra Pty Ltd")
    assert ip_signals("1.0.0.1", readers).asn == 15169
    s = ip_signals("12.81.96.1", readers)
    assert (s.asn, s.as_org) == (7018, None)  # record without an organisation name


@pytest.mark.parametrize("ip, expected", [
    ("1.2.0.1", {"anonymous": True, "vpn": True}),
    ("1.124.213.1", {"anonymous": True, "vpn": True, "tor": True}),
    ("81.2.69.1", dict.fromkeys(ANON_KEYS, True)),
    ("71.160.223.5", {"anonymous": True, "hosting": True}),
    ("186.30.236.1", {"anonymous": True, "public_proxy": True}),
    ("65.0.0.1", {"anonymous": True, "tor": True}),
    ("65.7.255.255", {"anonymous": True, "tor": True}),  # last address of 65.0.0.0/13
    ("6.1.0.2", {"anonymous": True, "hosting": True}),
    ("6.1.0.3", {"anonymous": True, "public_proxy": True}),
    ("6.1.0.4", {"anonymous": True, "residential_proxy": True}),
    ("8.8.8.8", {}),          # an empty record: not anonymous
    ("65.8.0.1", {}),         # just past the Tor /13
    ("10.1.2.3", {}),         # no record at all
])
def test_anonymous_flags(readers, ip, expected):
    assert anon(ip_signals(ip, readers)) == {k: expected.get(k, False) for k in ANON_KEYS}


def test_no_record_means_none_geo_but_false_flags(readers):
    s = ip_signals("1.1.1.1", readers)
    assert (s.country, s.latitude, s.timezone, s.asn, s.as_org) == (None, None, None, None, None)
    assert anon(s) == dict.fromkeys(ANON_KEYS, False)


def test_no_readers_gives_no_geo_but_address_facts():
    for readers in (None, GeoIPReaders()):
        s = ip_signals("81.2.69.142", readers)
        assert (s.version, s.private, s.subnet) == (4, False, "81.2.69.0/24")
        d = s.as_dict()
        assert all(d[k] is None for k in d if k not in ("version", "private", "subnet"))


def test_unconfigured_readers_stay_none():
    r = GeoIPReaders.open(None, ASN, None)
    try:
        s = ip_signals("81.2.69.142", r)
        assert s.country is None and s.anonymous is None and s.vpn is None
        assert ip_signals("1.128.0.0", r).asn == 1221
    finally:
        r.close()


def test_country_database_as_city_reader():
    r = GeoIPReaders.open(COUNTRY, None, None)
    try:
        s = ip_signals("81.2.69.142", r)
        assert s.country == "GB"
        assert (s.latitude, s.longitude, s.accuracy_km, s.timezone) == (None, None, None, None)
    finally:
        r.close()


def test_ipv6_lookup_and_48_subnet(readers):
    s = ip_signals("2001:218:abcd:1234::1", readers)
    assert (s.version, s.private, s.subnet) == (6, False, "2001:218:abcd::/48")
    assert (s.country, s.timezone) == ("JP", "Asia/Tokyo")
    assert ip_signals("2600:6000::1", readers).asn == 237


def test_ipv4_mapped_ipv6_is_the_ipv4_address(readers):
    assert ip_signals("::ffff:81.2.69.142", readers) == ip_signals("81.2.69.142", readers)
    assert ip_signals("::ffff:10.0.0.1", None).private is True


@pytest.mark.parametrize("ip, private", [
    ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True), ("127.0.0.1", True),
    ("169.254.1.1", True), ("100.64.0.1", True), ("100.127.255.254", True), ("0.0.0.0", True),
    ("224.0.0.1", True), ("240.0.0.1", True), ("255.255.255.255", True),
    ("::1", True), ("::", True), ("fe80::1", True), ("fc00::1", True), ("ff02::1", True),
    ("8.8.8.8", False), ("100.128.0.1", False), ("81.2.69.142", False), ("2001:218::1", False),
    # documentation ranges count as public so examples and simulations behave like real traffic
    ("203.0.113.7", False), ("198.51.100.1", False), ("2001:db8::1", False),
])
def test_private_classes(ip, private):
    assert ip_signals(ip, None).private is private


def test_registered_country_fallback_and_ipv4_only_database(tmp_path):
    w = MMDBWriter(ip_version=4, database_type="GeoIP2-City")
    w.insert_network(IPSet(["198.51.100.0/24"]), {"registered_country": {"iso_code": "NL"}})
    path = tmp_path / "v4.mmdb"
    w.to_db_file(str(path))
    r = GeoIPReaders.open(str(path), None, None)
    try:
        assert ip_signals("198.51.100.9", r).country == "NL"
        # an IPv6 address is simply absent from an IPv4-only file (the reader would raise)
        assert ip_signals("2001:218::1", r).country is None
    finally:
        r.close()


def test_corrupt_file_raises_on_open(tmp_path):
    bad = tmp_path / "garbage.mmdb"
    bad.write_bytes(b"not a maxmind database " * 100)
    with pytest.raises(maxminddb.InvalidDatabaseError):
        GeoIPReaders.open(str(bad), None, None)


def test_corrupt_search_tree_raises_on_lookup(tmp_path):
    data = bytearray(Path(CITY).read_bytes())
    data[:20000] = b"\xff" * 20000  # the search tree; the metadata at the end is intact
    bad = tmp_path / "corrupt.mmdb"
    bad.write_bytes(bytes(data))
    r = GeoIPReaders.open(str(bad), None, None)
    try:
        with pytest.raises(maxminddb.InvalidDatabaseError):
            ip_signals("81.2.69.142", r)
    finally:
        r.close()


def test_missing_file_raises_and_closes_what_was_opened(tmp_path, monkeypatch):
    opened = []
    real_open = maxminddb.open_database

    def recording_open(path, mode):
        reader = real_open(path, mode)
        opened.append(reader)
        return reader

    monkeypatch.setattr(maxminddb, "open_database", recording_open)
    with pytest.raises(FileNotFoundError):
        GeoIPReaders.open(CITY, str(tmp_path / "missing.mmdb"), None)
    assert len(opened) == 1 and opened[0].closed


def test_as_dict_is_json_safe(readers):
    d = ip_signals("81.2.69.142", readers).as_dict()
    assert json.loads(json.dumps(d)) == d
    assert {"country", "asn", "as_org", "anonymous", "vpn", "hosting", "tor", "residential_proxy",
            "public_proxy", "private"} <= set(d)


# The IANA special-purpose registries decide (private = not globally reachable), whatever
# Python's ipaddress says in this interpreter.
@pytest.mark.parametrize("ip, private", [
    ("64:ff9b::8.8.8.8", False),          # NAT64 well-known prefix: globally reachable
    ("64:ff9b:1::1", True),               # local-use NAT64 prefix: not
    ("2001:1::1", False), ("2001:1::2", False), ("2001:1::3", False),   # PCP, TURN, DNS-SD anycast
    ("2001:3::1", False), ("2001:4:112::1", False), ("2001:20::1", False), ("2001:30::1", False),
    ("2001:2::1", True),                  # benchmarking
    ("2001:10::1", True),                 # deprecated ORCHID: the enclosing 2001::/23 decides
    ("2001:100::1", True),                # unassigned part of 2001::/23
    ("2620:4f:8000::1", False),           # AS112 direct delegation
    ("5f00::1", True),                    # SRv6 SIDs
    ("100::1", True), ("100:0:0:1::1", True),   # discard-only, dummy prefix
    ("4000::1", True),                    # outside 2000::/3 and every special block
    ("192.0.0.1", True), ("192.0.0.8", True), ("192.0.0.100", True), ("192.0.0.170", True),
    ("192.0.0.255", True),                # 192.0.0.0/24: only .9 and .10 are reachable
    ("192.0.0.9", False), ("192.0.0.10", False),
    ("192.31.196.1", False), ("192.52.193.1", False), ("192.175.48.1", False),
    ("192.88.99.1", False),               # deprecated 6to4 relay anycast: no verdict, routed
    ("198.18.0.1", True), ("198.19.255.255", True), ("198.20.0.1", False),
    ("0.1.2.3", True),
])
def test_registry_reachability(ip, private):
    assert ip_signals(ip, None).private is private


def test_registry_tables_hold_the_rfc6890_blocks():
    for ip in ("0.0.0.1", "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.0.1", "172.16.0.1", "192.0.2.1",
               "192.168.0.1", "198.18.0.1", "198.51.100.1", "203.0.113.1", "240.0.0.1", "::1", "::",
               "2001:db8::1", "fc00::1", "fe80::1"):
        assert globally_reachable(ipaddress.ip_address(ip)) is False, ip
    # most specific first: 192.0.0.9/32 is found before 192.0.0.0/24
    assert globally_reachable(ipaddress.ip_address("192.0.0.9")) is True
    assert globally_reachable(ipaddress.ip_address("192.0.0.11")) is False
    assert globally_reachable(ipaddress.ip_address("8.8.8.8")) is None


TEREDO = "2001:0:4136:e378:8000:63bf:3fff:fdd2"   # RFC 4380's example: client 192.0.2.45


@pytest.mark.parametrize("ip, inner", [
    ("::ffff:81.2.69.142", "81.2.69.142"),
    ("2002:5102:458e::1", "81.2.69.142"),           # 6to4
    (TEREDO, "192.0.2.45"),                          # Teredo: the client's NAT address, de-obfuscated
    ("64:ff9b::5102:458e", "81.2.69.142"),           # NAT64 well-known prefix
    ("2001:218::1", None), ("81.2.69.142", None),
])
def test_embedded_ipv4(ip, inner):
    found = embedded_ipv4(ipaddress.ip_address(ip))
    assert (str(found) if found else None) == inner


@pytest.mark.parametrize("ip", ["2002:5102:458e::1", "2002:5102:458e:7::9", "64:ff9b::5102:458e"])
def test_an_address_carrying_an_ipv4_links_and_locates_as_that_ipv4(readers, ip):
    s, v4 = ip_signals(ip, readers), ip_signals("81.2.69.142", readers)
    assert (s.version, s.subnet, s.country, s.latitude, s.vpn) == (6, "81.2.69.0/24", "GB", v4.latitude, v4.vpn)
    assert subnet_of(ip) == subnet_of("81.2.69.142")


def test_teredo_clients_behind_one_relay_do_not_share_a_subnet():
    other = "2001:0:4136:e378:8000:63bf:3ffe:fdd2"   # same server, client 192.1.2.45
    assert subnet_of(TEREDO) == "192.0.2.0/24"
    assert subnet_of(other) == "192.1.2.0/24"


def test_an_ipv4_carrier_is_private_when_its_ipv4_is():
    assert ip_signals("2002:0a00:0001::1", None).private is True     # 6to4 of 10.0.0.1
    assert ip_signals("64:ff9b::c0a8:0101", None).private is True    # NAT64 of 192.168.1.1
    assert ip_signals("2002:5102:458e::1", None).private is False


@pytest.mark.parametrize("ip", ["81.2.69.142", "10.0.0.1", "2001:218:abcd:1234::1", "::ffff:81.2.69.142",
                                "2002:5102:458e::1", TEREDO, "64:ff9b::5102:458e", "fe80::1", "::1"])
def test_online_and_batch_subnets_agree(ip):
    # usage links and the re-scoring job call subnet_of; scoring takes ip_signals(...).subnet
    assert subnet_of(ip) == ip_signals(ip, None).subnet


def test_a_teredo_client_is_located_by_its_own_ipv4_not_the_servers(readers):
    s = ip_signals("2001:0:4136:e378:8000:63bf:a65f:eb8f", readers)   # client 89.160.20.112
    assert (s.country, s.subnet) == ("SE", "89.160.20.0/24")


# ---- every block of the shipped IANA registries (the data the signal reads, as IANA publishes it)
_REGISTRIES = [Path(__file__).resolve().parents[2] / "riskengine" / "data" / f"iana-ipv{v}-special-registry.csv"
               for v in (4, 6)]
# The contract's examples use documentation addresses as ordinary clients: an engine decision.
_DOCUMENTATION = [ipaddress.ip_network(n) for n in
                  ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")]


def _registry_blocks() -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    import csv
    out = []
    for path in _REGISTRIES:
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(line for line in f if not line.startswith("#")):
                for block in row["Address Block"].split(","):
                    out.append((ipaddress.ip_network(block.strip()), row["Globally Reachable"].strip()))
    return out


def test_every_registry_block_is_private_exactly_when_the_registry_says_not_reachable():
    """First, middle and last address of every block: private == the most specific verdict of
    the registry is "not globally reachable" (also for the IPv4 a 6to4/Teredo/NAT64 address
    carries), independent of what this interpreter's ipaddress module thinks."""
    blocks = _registry_blocks()

    def verdict(addr):
        holding = [(net.prefixlen, g) for net, g in blocks if g in ("True", "False")
                   and net.version == addr.version and addr in net]
        return max(holding)[1] if holding else None

    checked, wrong = 0, []
    for net, _ in blocks:
        for addr in {net.network_address, net[net.num_addresses // 2], net.broadcast_address}:
            if (addr.version == 6 and addr.ipv4_mapped is not None) or verdict(addr) is None \
                    or any(addr in d for d in _DOCUMENTATION if d.version == addr.version):
                continue
            unreachable = verdict(addr) == "False"
            inner = (addr.sixtofour or (addr.teredo[1] if addr.teredo else None)) if addr.version == 6 else None
            if addr.version == 6 and inner is None and addr in ipaddress.ip_network("64:ff9b::/96"):
                inner = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
            if inner is not None and verdict(inner) == "False":
                unreachable = True
            checked += 1
            if ip_signals(str(addr), None).private is not unreachable:
                wrong.append(str(addr))
    assert checked > 90 and wrong == []


# ---- network type: MaxMind's GeoIP2-Connection-Type and GeoIP2-Enterprise test databases
CONNECTION_TYPE = str(MM / "GeoIP2-Connection-Type-Test.mmdb")
ENTERPRISE = str(MM / "GeoIP2-Enterprise-Test.mmdb")


@pytest.mark.parametrize("ip, connection_type", [
    ("1.0.1.1", "Cellular"), ("1.0.0.1", "Cable/DSL"), ("67.43.156.1", "Cellular"), ("81.2.69.142", None)])
def test_connection_type_database(ip, connection_type):
    r = GeoIPReaders.open(None, None, None, CONNECTION_TYPE, None)
    s = ip_signals(ip, r)
    assert (s.connection_type, s.user_type) == (connection_type, None)
    assert s.as_dict()["connection_type"] == connection_type
    r.close()


@pytest.mark.parametrize("ip, user_type, connection_type", [
    ("74.209.24.1", "residential", "Cable/DSL"), ("81.2.69.161", "government", "Corporate"),
    ("214.78.120.5", "residential", "Satellite"), ("214.214.214.220", "hosting", None),
    ("1.124.213.1", "cellular", "Cellular"), ("203.0.113.9", None, None)])
def test_enterprise_database_alone(ip, user_type, connection_type):
    r = GeoIPReaders.open(None, None, None, None, ENTERPRISE)
    s = ip_signals(ip, r)
    assert (s.user_type, s.connection_type) == (user_type, connection_type)
    r.close()


def test_connection_type_file_wins_over_enterprise_traits():
    # 1.0.1.0/24: Connection-Type says Cellular; Enterprise has no record. 74.209.24.0/20:
    # Enterprise says Cable/DSL (and residential) where Connection-Type has no record.
    r = GeoIPReaders.open(None, None, None, CONNECTION_TYPE, ENTERPRISE)
    assert ip_signals("1.0.1.1", r).connection_type == "Cellular"
    s = ip_signals("74.209.24.1", r)
    assert (s.connection_type, s.user_type) == ("Cable/DSL", "residential")
    r.close()


def test_no_network_type_files_means_null_fields(readers):
    s = ip_signals("81.2.69.142", readers)
    assert s.as_dict()["connection_type"] is None and s.as_dict()["user_type"] is None


def test_a_file_of_the_wrong_type_is_named():
    r = GeoIPReaders.open(None, None, None, CITY, ENTERPRISE)
    assert r.wrong_types() == [("connection_type", "GeoIP2-City")]
    r.close()
    assert GeoIPReaders.open(None, None, None, CONNECTION_TYPE, ENTERPRISE).wrong_types() == []
