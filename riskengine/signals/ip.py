"""IP address signals: address class, linking subnet, and MaxMind geo / ASN / anonymity data.

A signal whose database is not configured is None (never guessed). Reader errors (a corrupt
or truncated file) propagate: the caller decides how a broken dependency degrades.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import maxminddb

# Engine decisions on top of the IANA registries (riskengine/data/iana-*-special-registry.csv):
# documentation ranges are not globally reachable, but the contract's examples and the tests
# use them as ordinary client addresses, so they count as public here; multicast (IANA's
# address-space registries, not the special-purpose ones) is never a client's source address.
_DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"))
_MULTICAST = (ipaddress.ip_network("224.0.0.0/4"), ipaddress.ip_network("ff00::/8"))
# IPv6 outside the global unicast space 2000::/3 that no special-purpose entry covers is
# "Reserved by IETF" in IANA's IPv6 Address Space registry: not a client address.
_V6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64_WKP = ipaddress.ip_network("64:ff9b::/96")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_ANON_FLAGS = {
    "anonymous": "is_anonymous",
    "vpn": "is_anonymous_vpn",
    "hosting": "is_hosting_provider",
    "tor": "is_tor_exit_node",
    "residential_proxy": "is_residential_proxy",
    "public_proxy": "is_public_proxy",
}


# The database type (metadata) each optional network-type reader must hold.
EXPECTED_TYPES = {"connection_type": "GeoIP2-Connection-Type", "enterprise": "GeoIP2-Enterprise"}


class GeoIPReaders:
    """Holds up to five maxminddb readers (MODE_AUTO): City-or-Country, ASN, Anonymous-IP,
    Connection-Type, Enterprise. Any may be None. Readers are thread-safe for lookups, so one
    instance serves a process."""

    def __init__(self, city=None, asn=None, anonymous=None, connection_type=None, enterprise=None):
        self.city = city
        self.asn = asn
        self.anonymous = anonymous
        self.connection_type = connection_type
        self.enterprise = enterprise
        # Looking an IPv6 address up in an IPv4-only database raises; it simply has no
        # record there, so remember which readers to skip for IPv6.
        self._v4_only = {id(r) for r in self._all() if r.metadata().ip_version == 4}

    def _all(self) -> list:
        return [r for r in (self.city, self.asn, self.anonymous, self.connection_type, self.enterprise)
                if r is not None]

    @classmethod
    def open(cls, city_path: str | None, asn_path: str | None, anonymous_path: str | None,
             connection_type_path: str | None = None, enterprise_path: str | None = None) -> GeoIPReaders:
        opened: list[Any] = []
        try:
            readers = []
            for path in (city_path, asn_path, anonymous_path, connection_type_path, enterprise_path):
                reader = maxminddb.open_database(path, maxminddb.MODE_AUTO) if path else None
                if reader is not None:
                    opened.append(reader)
                readers.append(reader)
            return cls(*readers)
        except BaseException:
            for reader in opened:
                reader.close()
            raise

    def wrong_types(self) -> list[tuple[str, str]]:
        """(reader, its database type) of network-type readers holding another kind of file
        (a City file given as Connection-Type would silently answer nothing)."""
        out = []
        for name, expected in EXPECTED_TYPES.items():
            reader = getattr(self, name)
            found = reader.metadata().database_type if reader is not None else expected
            if expected not in found:
                out.append((name, found))
        return out

    def close(self) -> None:
        for reader in self._all():
            reader.close()

    def lookup(self, reader, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict | None:
        if addr.version == 6 and id(reader) in self._v4_only:
            return None
        return reader.get(addr)


@dataclass(frozen=True, slots=True)
class IPSignals:
    version: int
    private: bool
    subnet: str
    country: str | None
    latitude: float | None
    longitude: float | None
    accuracy_km: int | None
    timezone: str | None
    asn: int | None
    as_org: str | None
    anonymous: bool | None
    vpn: bool | None
    hosting: bool | None
    tor: bool | None
    residential_proxy: bool | None
    public_proxy: bool | None
    connection_type: str | None = None     # GeoIP2-Connection-Type (or Enterprise traits.connection_type)
    user_type: str | None = None           # GeoIP2-Enterprise traits.user_type

    def as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__slots__}   # flat: not asdict's deep copy of each value


@lru_cache(maxsize=1)
def _special_blocks() -> dict[int, list[tuple[int, int, bool]]]:
    """Version -> (first, last, globally reachable) of each registry block, most specific first.
    Entries without a "Globally Reachable" value (deprecated blocks) are left out, so the
    enclosing block decides; "N/A" (Teredo, 6to4: depends on the relay) counts as reachable."""
    out: dict[int, list[tuple[int, int, int, bool]]] = {4: [], 6: []}
    for name in ("iana-ipv4-special-registry.csv", "iana-ipv6-special-registry.csv"):
        text = resources.files("riskengine").joinpath("data", name).read_text("utf-8")
        for row in csv.DictReader(io.StringIO(text)):
            reachable = row["Globally Reachable"].strip()
            if not reachable:
                continue
            net = ipaddress.ip_network(row["Address Block"].strip())
            first = int(net.network_address)
            out[net.version].append((net.prefixlen, first, first + net.num_addresses - 1, reachable != "False"))
    return {v: [(f, la, r) for _, f, la, r in sorted(blocks, reverse=True)] for v, blocks in out.items()}


def globally_reachable(addr: Address) -> bool | None:
    """What the IANA special-purpose registry says of `addr` (its most specific block), or None
    when no block holds it."""
    value = int(addr)
    for first, last, reachable in _special_blocks()[addr.version]:
        if first <= value <= last:
            return reachable
    return None


def embedded_ipv4(addr: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 client inside an IPv6 address: IPv4-mapped (::ffff:0:0/96), 6to4 (2002::/16,
    the site's IPv4), Teredo (2001::/32, the client's NAT address, stored obfuscated) and NAT64
    (64:ff9b::/96, an IPv4 client translated for an IPv6-only server)."""
    if addr.version == 4:
        return None
    assert isinstance(addr, ipaddress.IPv6Address)
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64_WKP:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _not_a_client(addr: Address) -> bool:
    if any(addr in net for net in _MULTICAST if net.version == addr.version):
        return True
    if any(addr in net for net in _DOCUMENTATION if net.version == addr.version):
        return False
    reachable = globally_reachable(addr)
    if reachable is None:
        return addr.version == 6 and addr not in _V6_GLOBAL_UNICAST
    return not reachable


def is_private(addr: Address) -> bool:
    """Not a globally reachable client address, per the IANA special-purpose address registries
    shipped with the package (not Python's ipaddress, whose answer changed between patch
    releases): private-use, CGNAT-shared, loopback, link-local, benchmarking, reserved,
    multicast, unspecified... An IPv6 address that carries an IPv4 (6to4, Teredo, NAT64) is
    private when that IPv4 is. Seeing one usually means a proxy hid the real client."""
    if _not_a_client(addr):
        return True
    inner = embedded_ipv4(addr)
    return inner is not None and _not_a_client(inner)


def _address(ip: str) -> Address:
    addr = ipaddress.ip_address(ip)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 client behind a dual-stack socket
    return addr


def linking_address(addr: Address) -> Address:
    """The address that geo lookups and the linking subnet use: the IPv4 inside a 6to4,
    Teredo or NAT64 address (so a 6to4 address links to its IPv4's /24, and Teredo clients do
    not all share the relay's /48), else the address itself."""
    return embedded_ipv4(addr) or addr


def located_address(ip: str) -> Address:
    """The address of `ip` that geo lookups and the linking subnet use (see linking_address)."""
    return linking_address(_address(ip))


def _subnet(addr: Address) -> str:
    # /24 and /48 are the usual smallest units an ISP or host hands to one customer.
    # (Masking the integer is 4x cheaper than ip_network(..., strict=False).)
    prefix = 24 if addr.version == 4 else 48
    bits = addr.max_prefixlen
    base = int(addr) & (((1 << prefix) - 1) << (bits - prefix))
    return f"{type(addr)(base)}/{prefix}"


def subnet_of(ip: str) -> str:
    """The linking subnet of a canonical address (IPv4 /24, IPv6 /48, the embedded IPv4's /24
    for 6to4, Teredo and NAT64), without any lookup. The one definition: ip_signals, usage
    links and the re-scoring job all take the subnet from here."""
    if ":" not in ip:
        return ip.rsplit(".", 1)[0] + ".0/24"      # canonical dotted quad: the /24 is textual
    return _subnet(located_address(ip))


def ip_signals(ip: str, readers: GeoIPReaders | None) -> IPSignals:
    addr = _address(ip)
    located = linking_address(addr)     # = located_address(ip), without parsing twice

    geo: dict[str, Any] = dict.fromkeys(
        ("country", "latitude", "longitude", "accuracy_km", "timezone", "asn", "as_org", "connection_type",
         "user_type"))
    geo.update(dict.fromkeys(_ANON_FLAGS))
    if readers is not None:
        if readers.city is not None:
            geo.update(_city_fields(readers.lookup(readers.city, located)))
        if readers.asn is not None:
            rec = readers.lookup(readers.asn, located) or {}
            geo["asn"] = rec.get("autonomous_system_number")
            geo["as_org"] = rec.get("autonomous_system_organization")
        if readers.anonymous is not None:
            # Configured but no record means "not anonymous" (the file lists what it knows).
            rec = readers.lookup(readers.anonymous, located) or {}
            geo.update({name: bool(rec.get(key)) for name, key in _ANON_FLAGS.items()})
        geo.update(network_type(readers, located))
    return IPSignals(version=addr.version, private=is_private(addr), subnet=_subnet(located), **geo)


def network_type(readers: GeoIPReaders, addr: Address) -> dict[str, str | None]:
    """connection_type (Connection-Type's, else Enterprise's traits.connection_type) and
    user_type (Enterprise's traits.user_type), as the files spell them; None when no file is
    configured or it has no record for the address (contract v1.1, "Network type")."""
    out: dict[str, str | None] = {}
    if readers.enterprise is not None:
        traits = (readers.lookup(readers.enterprise, addr) or {}).get("traits") or {}
        out["user_type"] = traits.get("user_type")
        out["connection_type"] = traits.get("connection_type")
    if readers.connection_type is not None:
        ct = (readers.lookup(readers.connection_type, addr) or {}).get("connection_type")
        out["connection_type"] = ct or out.get("connection_type")
    return out


def _city_fields(rec: dict | None) -> dict[str, Any]:
    if not rec:
        return {}
    # country = where the address is used; registered_country = where the block is
    # registered, a fallback when MaxMind has no location for the block.
    country = (rec.get("country") or {}).get("iso_code") or (rec.get("registered_country") or {}).get("iso_code")
    loc = rec.get("location") or {}  # absent in Country databases
    return {
        "country": country,
        "latitude": loc.get("latitude"),
        "longitude": loc.get("longitude"),
        "accuracy_km": loc.get("accuracy_radius"),
        "timezone": loc.get("time_zone"),
    }
