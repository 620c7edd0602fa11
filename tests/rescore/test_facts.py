"""The job's shortcuts to the policy's facts give the answers of the long way."""
from __future__ import annotations

import ipaddress
import pickle
import random

import maxminddb
import pytest

from riskengine.rescore.facts import countries
from riskengine.scoring.policy import OTHER
from riskengine.signals.ip import GeoIPReaders, ip_signals
from tests.conftest import MAXMIND

KNOWN = ["2.125.160.216", "89.160.20.112", "81.2.69.142", "216.160.83.56", "175.16.199.1", "67.43.156.1",
         "202.196.224.1"]


def addresses() -> list[str]:
    """Random addresses, the test files' known ones, their neighbours across network edges, IPv6."""
    rnd = random.Random(7)
    out = [str(ipaddress.IPv4Address(rnd.getrandbits(32))) for _ in range(3000)]
    out += [str(ipaddress.IPv6Address(rnd.getrandbits(128))) for _ in range(300)]
    out += [str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(k)) + d)) for k in KNOWN for d in range(-300, 300, 3)]
    out += ["2001:218::1", "2001:218::ffff", "2001:219::1", "::ffff:81.2.69.142"]
    return list(dict.fromkeys(out))


@pytest.mark.parametrize("name", ["GeoIP2-City-Test.mmdb", "GeoIP2-Country-Test.mmdb"])
def test_one_lookup_per_network_gives_each_address_its_own_country(name):
    reader = maxminddb.open_database(str(MAXMIND / name), maxminddb.MODE_AUTO)
    try:
        ips = addresses()
        got = countries(ips, list(range(len(ips))), reader)
        want = {j: ip_signals(ip, GeoIPReaders(city=reader)).country for j, ip in enumerate(ips)}
        assert got == want
        assert sum(1 for c in want.values() if c) > 100            # the comparison saw countries, not only misses
    finally:
        reader.close()


def test_other_stays_itself_across_processes():
    """Dask moves the population between processes: OTHER must still be OTHER there."""
    assert pickle.loads(pickle.dumps({"device_ids": frozenset({OTHER, "dv_1"})}))["device_ids"] == {OTHER, "dv_1"}
    assert pickle.loads(pickle.dumps(OTHER)) is OTHER
