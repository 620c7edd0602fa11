"""The client's address behind trusted reverse proxies and CDNs.

Only a proxy we trust may tell us who its client was: `X-Forwarded-For` is read from the
right, one hop per trusted proxy, and the first address that is not a trusted proxy is the
client. A caller-supplied header in front of an untrusted hop is never believed, so a farm
cannot pick the address it is bound to by sending its own header.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyListError(ValueError):
    """A trusted-proxy entry that is not an address or CIDR."""


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: str | Iterable[str] | None) -> TrustedProxies:
        """`"10.0.0.0/8, 2001:db8::/32"` or a list of such strings."""
        if entries is None:
            return cls()
        items = entries.split(",") if isinstance(entries, str) else list(entries)
        networks = []
        for item in (i.strip() for i in items):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ProxyListError(f"not an IP address or CIDR: {item!r}") from None
        return cls(tuple(networks))

    def trusts(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:      # "[2001:db8::1]:443"
        value = value[1:value.index("]")]
    elif value.count(":") == 1:                      # "203.0.113.7:51000"
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_address(remote_addr: str | None, forwarded_for: str | list[str] | None,
                   trusted: TrustedProxies) -> str | None:
    """The address of the first hop that is not a trusted proxy, walking back from the peer.

    `forwarded_for` is the X-Forwarded-For header (one string, or one per header line).
    A malformed entry stops the walk: what lies left of it cannot be trusted.
    """
    peer = _ip(remote_addr or "")
    if peer is None:
        return None
    if isinstance(forwarded_for, list):
        forwarded_for = ",".join(forwarded_for)
    hops = [h for h in (forwarded_for or "").split(",") if h.strip()]
    client = peer
    while hops and any(client in net for net in trusted.networks):
        hop = _ip(hops.pop())
        if hop is None:
            break
        client = hop
    return str(client)
