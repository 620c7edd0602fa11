"""IP address signals: address class, linking subnet, and MaxMind geo / ASN / anonymity data.

A signal whose database is not configured is None (never guessed). Reader errors (a corrupt
or truncated file) propagate: the caller decides how a broken dependency degrades.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any

import maxminddb

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # CGNAT: many subscribers behind one address
# Python counts documentation ranges as private; they are not in the list of classes the
# engine treats as non-routable, so contract examples and simulations can use them as
# ordinary public addresses.
_DOCUMENTATION = (
    ipaddress.ip_network("192.0.2.0/24"),
    ipaddress.ip_network("198.51.100.0/24"),
    ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"),
    ipaddress.ip_network("3fff::/20"),
)
_ANON_FLAGS = {
    "anonymous": "is_anonymous",
    "vpn": "is_anonymous_vpn",
    "hosting": "is_hosting_provider",
    "tor": "is_tor_exit_node",
    "residential_proxy": "is_residential_proxy",
    "public_proxy": "is_public_proxy",
}


class GeoIPReaders:
    """Holds up to three maxminddb readers (MODE_AUTO): City-or-Country, ASN, Anonymous-IP.
    Any may be None. Readers are thread-safe for lookups, so one instance serves a process."""

    def __init__(self, city=None, asn=None, anonymous=None):
        self.city = city
        self.asn = asn
        self.anonymous = anonymous
        # Looking an IPv6 address up in an IPv4-only database raises; it simply has no
        # record there, so remember which readers to skip for IPv6.
        self._v4_only = {
            id(r) for r in (city, asn, anonymous) if r is not None and r.metadata().ip_version == 4
        }

    @classmethod
    def open(cls, city_path: str | None, asn_path: str | None, anonymous_path: str | None) -> GeoIPReaders:
        opened: list[Any] = []
        try:
            readers = []
            for path in (city_path, asn_path, anonymous_path):
                reader = maxminddb.open_database(path, maxminddb.MODE_AUTO) if path else None
                if reader is not None:
                    opened.append(reader)
                readers.append(reader)
            return cls(*readers)
        except BaseException:
            for reader in opened:
                reader.close()
            raise

    def close(self) -> None:
        for reader in (self.city, self.asn, self.anonymous):
            if reader is not None:
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

    def as_dict(self) -> dict:
        return asdict(self)


def is_private(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not a routable client address: private, loopback, link-local, reserved, CGNAT-shared,
    multicast or unspecified. Seeing one usually means a proxy hid the real client."""
    if addr.is_private and not any(addr in net for net in _DOCUMENTATION if net.version == addr.version):
        return True
    return (
        addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast
        or addr.is_unspecified or (addr.version == 4 and addr in _SHARED)
    )


def _address(ip: str):
    addr = ipaddress.ip_address(ip)
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 client behind a dual-stack socket
    return addr


def _subnet(addr) -> str:
    # /24 and /48 are the usual smallest units an ISP or host hands to one customer.
    # (Masking the integer is 4x cheaper than ip_network(..., strict=False).)
    prefix = 24 if addr.version == 4 else 48
    bits = addr.max_prefixlen
    base = int(addr) & (((1 << prefix) - 1) << (bits - prefix))
    return f"{type(addr)(base)}/{prefix}"


def subnet_of(ip: str) -> str:
    """The linking subnet of a canonical address (IPv4 /24, IPv6 /48), without any lookup."""
    if ":" not in ip:
        return ip.rsplit(".", 1)[0] + ".0/24"      # canonical dotted quad: the /24 is textual
    return _subnet(_address(ip))


def ip_signals(ip: str, readers: GeoIPReaders | None) -> IPSignals:
    addr = _address(ip)
    subnet = _subnet(addr)

    geo: dict[str, Any] = dict.fromkeys(
        ("country", "latitude", "longitude", "accuracy_km", "timezone", "asn", "as_org"))
    geo.update(dict.fromkeys(_ANON_FLAGS))
    if readers is not None:
        if readers.city is not None:
            geo.update(_city_fields(readers.lookup(readers.city, addr)))
        if readers.asn is not None:
            rec = readers.lookup(readers.asn, addr) or {}
            geo["asn"] = rec.get("autonomous_system_number")
            geo["as_org"] = rec.get("autonomous_system_organization")
        if readers.anonymous is not None:
            # Configured but no record means "not anonymous" (the file lists what it knows).
            rec = readers.lookup(readers.anonymous, addr) or {}
            geo.update({name: bool(rec.get(key)) for name, key in _ANON_FLAGS.items()})
    return IPSignals(version=addr.version, private=is_private(addr), subnet=subnet, **geo)


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
