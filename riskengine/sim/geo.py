"""The simulated world's geography and IP space, and its GeoIP databases.

Everything here is *fixed* (independent of a world's seed): the same countries, ISPs,
carriers, campuses, clouds, VPN exits, Tor exits and residential-proxy subnets exist in
every simulated world, so GeoIP files written from one world serve any other.

The IP space is fictional but public: IPv4 blocks are carved out of 11.0.0.0/8 ..
126.0.0.0/8 (skipping 100.64.0.0/10 shared address space) and IPv6 /32s out of
2a0c::/16.  The three databases follow MaxMind's schemas (GeoIP2-City, GeoLite2-ASN,
GeoIP2-Anonymous-IP) and are written with ``mmdb-writer``; the anonymous database,
like the real one, lists only flagged networks and is deliberately incomplete (some
VPN exits, hosting ranges and most residential-proxy subnets are not flagged).
"""

from __future__ import annotations

import bisect
import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from riskengine.quantities import great_circle_km
from riskengine.sim.rand import Rand, Weighted

GEO_SEED = 20261101  # fixed: the geography does not depend on a world's seed

# ---------------------------------------------------------------------------------------
# Countries and cities
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str
    country: str
    lat: float
    lon: float
    tz: str
    weight: float = 1.0  # share of the country's residents (0: datacenter-only town)
    area_codes: tuple[str, ...] = ()  # national destination codes (US/CA/BR phones)

    @property
    def geoname_id(self) -> int:
        return _stable_int(f"city:{self.country}:{self.name}", 7)


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    continent: str
    weight: float  # share of legitimate users
    cities: tuple[City, ...]
    # (languages list, weight): what browsers of residents report
    locales: tuple[tuple[tuple[str, ...], float], ...]
    restricted: bool = False

    @property
    def geoname_id(self) -> int:
        return _stable_int(f"country:{self.code}", 6)

    @cached_property
    def resident_cities(self) -> Weighted:
        return Weighted([(c, c.weight) for c in self.cities])

    @cached_property
    def locale_choice(self) -> Weighted:
        return Weighted(list(self.locales))

    @property
    def primary_tz(self) -> str:
        return max(self.cities, key=lambda c: c.weight).tz

    @property
    def capital(self) -> City:
        return max(self.cities, key=lambda c: c.weight)

    def city(self, name: str) -> City:
        for c in self.cities:
            if c.name == name:
                return c
        raise KeyError(f"{self.code}: no city {name!r}")


CONTINENTS = {
    "NA": "North America", "SA": "South America", "EU": "Europe", "AS": "Asia",
    "AF": "Africa", "OC": "Oceania",
}


def _c(country, name, lat, lon, tz, weight=1.0, area_codes=()):
    return City(name, country, lat, lon, tz, weight, tuple(area_codes))


_NY, _LA, _CHI = "America/New_York", "America/Los_Angeles", "America/Chicago"

COUNTRIES: dict[str, Country] = {c.code: c for c in [
    Country("US", "United States", "NA", 22.0, (
        _c("US", "New York", 40.7128, -74.0060, _NY, 3.0, ["212", "646", "718", "917", "347"]),
        _c("US", "Los Angeles", 34.0522, -118.2437, _LA, 2.5, ["213", "310", "323", "424", "818"]),
        _c("US", "Chicago", 41.8781, -87.6298, _CHI, 1.8, ["312", "773", "872"]),
        _c("US", "Houston", 29.7604, -95.3698, _CHI, 1.5, ["713", "832", "281"]),
        _c("US", "Phoenix", 33.4484, -112.0740, "America/Phoenix", 1.0, ["602", "480", "623"]),
        _c("US", "Seattle", 47.6062, -122.3321, _LA, 1.0, ["206", "425", "253"]),
        _c("US", "Atlanta", 33.7490, -84.3880, _NY, 1.2, ["404", "678", "470"]),
        _c("US", "Denver", 39.7392, -104.9903, "America/Denver", 0.9, ["303", "720"]),
        _c("US", "San Francisco", 37.7749, -122.4194, _LA, 1.0, ["415", "628", "510"]),
        _c("US", "Boston", 42.3601, -71.0589, _NY, 0.9, ["617", "857"]),
        _c("US", "Ashburn", 39.0438, -77.4874, _NY, 0.0, ["703", "571"]),
    ), ((("en-US", "en"), 0.86), (("en-US",), 0.06), (("es-US", "es", "en-US", "en"), 0.08))),
    Country("GB", "United Kingdom", "EU", 7.0, (
        _c("GB", "London", 51.5074, -0.1278, "Europe/London", 3.0),
        _c("GB", "Manchester", 53.4808, -2.2426, "Europe/London", 1.0),
        _c("GB", "Birmingham", 52.4862, -1.8904, "Europe/London", 1.0),
        _c("GB", "Glasgow", 55.8642, -4.2518, "Europe/London", 0.7),
        _c("GB", "Bristol", 51.4545, -2.5879, "Europe/London", 0.6),
    ), ((("en-GB", "en"), 0.8), (("en-GB", "en-US", "en"), 0.15), (("en-US", "en"), 0.05))),
    Country("DE", "Germany", "EU", 7.0, (
        _c("DE", "Berlin", 52.5200, 13.4050, "Europe/Berlin", 2.0),
        _c("DE", "Munich", 48.1351, 11.5820, "Europe/Berlin", 1.3),
        _c("DE", "Hamburg", 53.5511, 9.9937, "Europe/Berlin", 1.3),
        _c("DE", "Frankfurt am Main", 50.1109, 8.6821, "Europe/Berlin", 0.8),
        _c("DE", "Cologne", 50.9375, 6.9603, "Europe/Berlin", 1.0),
    ), ((("de-DE", "de", "en-US", "en"), 0.6), (("de-DE", "de"), 0.3), (("de", "en"), 0.1))),
    Country("FR", "France", "EU", 5.0, (
        _c("FR", "Paris", 48.8566, 2.3522, "Europe/Paris", 3.0),
        _c("FR", "Lyon", 45.7640, 4.8357, "Europe/Paris", 1.0),
        _c("FR", "Marseille", 43.2965, 5.3698, "Europe/Paris", 1.0),
        _c("FR", "Toulouse", 43.6047, 1.4442, "Europe/Paris", 0.8),
        _c("FR", "Lille", 50.6292, 3.0573, "Europe/Paris", 0.7),
    ), ((("fr-FR", "fr", "en-US", "en"), 0.65), (("fr-FR", "fr"), 0.3), (("fr", "en"), 0.05))),
    Country("IN", "India", "AS", 10.0, (
        _c("IN", "Mumbai", 19.0760, 72.8777, "Asia/Kolkata", 2.0),
        _c("IN", "Delhi", 28.6139, 77.2090, "Asia/Kolkata", 2.0),
        _c("IN", "Bengaluru", 12.9716, 77.5946, "Asia/Kolkata", 1.8),
        _c("IN", "Chennai", 13.0827, 80.2707, "Asia/Kolkata", 1.0),
        _c("IN", "Hyderabad", 17.3850, 78.4867, "Asia/Kolkata", 1.2),
        _c("IN", "Kolkata", 22.5726, 88.3639, "Asia/Kolkata", 0.8),
    ), ((("en-IN", "en"), 0.35), (("en-US", "en"), 0.45), (("hi-IN", "hi", "en-IN", "en"), 0.2))),
    Country("BR", "Brazil", "SA", 6.0, (
        _c("BR", "São Paulo", -23.5505, -46.6333, "America/Sao_Paulo", 3.0, ["11"]),
        _c("BR", "Rio de Janeiro", -22.9068, -43.1729, "America/Sao_Paulo", 1.8, ["21"]),
        _c("BR", "Brasília", -15.7939, -47.8828, "America/Sao_Paulo", 0.8, ["61"]),
        _c("BR", "Porto Alegre", -30.0346, -51.2177, "America/Sao_Paulo", 0.7, ["51"]),
        _c("BR", "Fortaleza", -3.7319, -38.5267, "America/Fortaleza", 0.7, ["85"]),
        _c("BR", "Manaus", -3.1190, -60.0217, "America/Manaus", 0.5, ["92"]),
    ), ((("pt-BR", "pt", "en-US", "en"), 0.55), (("pt-BR", "pt"), 0.4), (("pt-BR",), 0.05))),
    Country("JP", "Japan", "AS", 5.0, (
        _c("JP", "Tokyo", 35.6762, 139.6503, "Asia/Tokyo", 3.0),
        _c("JP", "Osaka", 34.6937, 135.5023, "Asia/Tokyo", 1.5),
        _c("JP", "Nagoya", 35.1815, 136.9066, "Asia/Tokyo", 0.8),
        _c("JP", "Fukuoka", 33.5904, 130.4017, "Asia/Tokyo", 0.6),
        _c("JP", "Sapporo", 43.0618, 141.3545, "Asia/Tokyo", 0.5),
    ), ((("ja",), 0.45), (("ja-JP", "ja"), 0.35), (("ja", "en-US", "en"), 0.2))),
    Country("KR", "South Korea", "AS", 3.0, (
        _c("KR", "Seoul", 37.5665, 126.9780, "Asia/Seoul", 3.0),
        _c("KR", "Busan", 35.1796, 129.0756, "Asia/Seoul", 1.0),
        _c("KR", "Incheon", 37.4563, 126.7052, "Asia/Seoul", 0.8),
        _c("KR", "Daegu", 35.8714, 128.6014, "Asia/Seoul", 0.6),
    ), ((("ko-KR", "ko", "en-US", "en"), 0.6), (("ko-KR", "ko"), 0.35), (("ko",), 0.05))),
    Country("NG", "Nigeria", "AF", 4.0, (
        _c("NG", "Lagos", 6.5244, 3.3792, "Africa/Lagos", 3.0),
        _c("NG", "Abuja", 9.0765, 7.3986, "Africa/Lagos", 1.2),
        _c("NG", "Kano", 12.0022, 8.5920, "Africa/Lagos", 0.6),
        _c("NG", "Port Harcourt", 4.8156, 7.0498, "Africa/Lagos", 0.7),
    ), ((("en-US", "en"), 0.5), (("en-GB", "en"), 0.35), (("en-NG", "en"), 0.15))),
    Country("ID", "Indonesia", "AS", 5.0, (
        _c("ID", "Jakarta", -6.2088, 106.8456, "Asia/Jakarta", 3.0),
        _c("ID", "Surabaya", -7.2575, 112.7521, "Asia/Jakarta", 1.2),
        _c("ID", "Bandung", -6.9175, 107.6191, "Asia/Jakarta", 1.0),
        _c("ID", "Medan", 3.5952, 98.6722, "Asia/Jakarta", 0.8),
        _c("ID", "Makassar", -5.1477, 119.4327, "Asia/Makassar", 0.5),
        _c("ID", "Denpasar", -8.6705, 115.2126, "Asia/Makassar", 0.4),
    ), ((("id-ID", "id", "en-US", "en"), 0.45), (("en-US", "en"), 0.35), (("id-ID", "id"), 0.2))),
    Country("CA", "Canada", "NA", 4.0, (
        _c("CA", "Toronto", 43.6532, -79.3832, "America/Toronto", 2.5, ["416", "647", "437"]),
        _c("CA", "Montreal", 45.5017, -73.5673, "America/Toronto", 1.5, ["514", "438"]),
        _c("CA", "Vancouver", 49.2827, -123.1207, "America/Vancouver", 1.2, ["604", "778"]),
        _c("CA", "Calgary", 51.0447, -114.0719, "America/Edmonton", 0.8, ["403", "587"]),
        _c("CA", "Ottawa", 45.4215, -75.6972, "America/Toronto", 0.6, ["613", "343"]),
    ), ((("en-CA", "en"), 0.55), (("en-US", "en"), 0.25), (("fr-CA", "fr", "en-CA", "en"), 0.2))),
    Country("AU", "Australia", "OC", 3.0, (
        _c("AU", "Sydney", -33.8688, 151.2093, "Australia/Sydney", 2.0),
        _c("AU", "Melbourne", -37.8136, 144.9631, "Australia/Melbourne", 2.0),
        _c("AU", "Brisbane", -27.4698, 153.0251, "Australia/Brisbane", 1.0),
        _c("AU", "Perth", -31.9505, 115.8605, "Australia/Perth", 0.8),
        _c("AU", "Adelaide", -34.9285, 138.6007, "Australia/Adelaide", 0.5),
    ), ((("en-AU", "en"), 0.7), (("en-US", "en"), 0.2), (("en-GB", "en"), 0.1))),
    Country("PL", "Poland", "EU", 3.0, (
        _c("PL", "Warsaw", 52.2297, 21.0122, "Europe/Warsaw", 2.0),
        _c("PL", "Kraków", 50.0647, 19.9450, "Europe/Warsaw", 1.0),
        _c("PL", "Wrocław", 51.1079, 17.0385, "Europe/Warsaw", 0.8),
        _c("PL", "Gdańsk", 54.3520, 18.6466, "Europe/Warsaw", 0.6),
        _c("PL", "Poznań", 52.4064, 16.9252, "Europe/Warsaw", 0.6),
    ), ((("pl-PL", "pl", "en-US", "en"), 0.6), (("pl-PL", "pl"), 0.35), (("pl",), 0.05))),
    Country("NL", "Netherlands", "EU", 3.0, (
        _c("NL", "Amsterdam", 52.3676, 4.9041, "Europe/Amsterdam", 2.0),
        _c("NL", "Rotterdam", 51.9244, 4.4777, "Europe/Amsterdam", 1.2),
        _c("NL", "Utrecht", 52.0907, 5.1214, "Europe/Amsterdam", 0.8),
        _c("NL", "Eindhoven", 51.4416, 5.4697, "Europe/Amsterdam", 0.6),
        _c("NL", "The Hague", 52.0705, 4.3007, "Europe/Amsterdam", 0.8),
    ), ((("nl-NL", "nl", "en-US", "en"), 0.6), (("nl-NL", "nl"), 0.2), (("en-US", "en"), 0.2))),
    Country("SG", "Singapore", "AS", 2.0, (
        _c("SG", "Singapore", 1.3521, 103.8198, "Asia/Singapore", 1.0),
    ), ((("en-SG", "en"), 0.45), (("en-US", "en"), 0.35), (("zh-CN", "zh", "en-SG", "en"), 0.2))),
    Country("RU", "Russia", "EU", 1.5, (
        _c("RU", "Moscow", 55.7558, 37.6173, "Europe/Moscow", 3.0),
        _c("RU", "Saint Petersburg", 59.9311, 30.3609, "Europe/Moscow", 1.5),
        _c("RU", "Novosibirsk", 55.0084, 82.9357, "Asia/Novosibirsk", 0.6),
        _c("RU", "Yekaterinburg", 56.8389, 60.6057, "Asia/Yekaterinburg", 0.6),
        _c("RU", "Kazan", 55.7963, 49.1088, "Europe/Moscow", 0.5),
    ), ((("ru-RU", "ru", "en-US", "en"), 0.6), (("ru-RU", "ru"), 0.35), (("ru",), 0.05)), True),
    Country("CN", "China", "AS", 0.6, (
        _c("CN", "Beijing", 39.9042, 116.4074, "Asia/Shanghai", 2.0),
        _c("CN", "Shanghai", 31.2304, 121.4737, "Asia/Shanghai", 2.0),
        _c("CN", "Shenzhen", 22.5431, 114.0579, "Asia/Shanghai", 1.2),
        _c("CN", "Guangzhou", 23.1291, 113.2644, "Asia/Shanghai", 1.0),
        _c("CN", "Chengdu", 30.5728, 104.0668, "Asia/Shanghai", 0.8),
    ), ((("zh-CN", "zh"), 0.7), (("zh-CN", "zh", "en-US", "en"), 0.3)), True),
    Country("IR", "Iran", "AS", 0.3, (
        _c("IR", "Tehran", 35.6892, 51.3890, "Asia/Tehran", 3.0),
        _c("IR", "Mashhad", 36.2605, 59.6168, "Asia/Tehran", 0.8),
        _c("IR", "Isfahan", 32.6546, 51.6680, "Asia/Tehran", 0.6),
    ), ((("fa-IR", "fa", "en-US", "en"), 0.6), (("fa-IR", "fa"), 0.4)), True),
    Country("KP", "North Korea", "AS", 0.0, (
        _c("KP", "Pyongyang", 39.0392, 125.7625, "Asia/Pyongyang", 1.0),
    ), ((("ko-KP", "ko"), 0.7), (("ko",), 0.3)), True),
]}

# registered countries of offshore providers that are not otherwise in the world
EXTRA_COUNTRY_NAMES = {"PA": ("Panama", "NA"), "SC": ("Seychelles", "AF"), "VG": ("British Virgin Islands", "NA")}

RESTRICTED = tuple(c for c, k in COUNTRIES.items() if k.restricted)
LEGIT_COUNTRIES = Weighted([(c, k.weight) for c, k in COUNTRIES.items() if k.weight > 0])


def country_name(code: str) -> str:
    if code in COUNTRIES:
        return COUNTRIES[code].name
    return EXTRA_COUNTRY_NAMES[code][0]


def continent_of(code: str) -> str:
    if code in COUNTRIES:
        return COUNTRIES[code].continent
    return EXTRA_COUNTRY_NAMES[code][1]


def city(country: str, name: str) -> City:
    return COUNTRIES[country].city(name)


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------

# kinds of networks
RESIDENTIAL = "residential"   # fixed-line ISP block for one city
MOBILE = "mobile"             # mobile carrier gateway (CGNAT pool on IPv4)
CAMPUS = "campus"             # university NAT
OFFICE = "office"             # company NAT
HOSTING = "hosting"           # cloud / datacenter region
VPN = "vpn"                   # commercial VPN exit
TOR = "tor"                   # Tor exit relays
PUBLIC_PROXY = "public_proxy"  # open proxies inside a hosting range
RESI_PROXY = "resi_proxy"     # residential/mobile proxy exits: a /24 inside an ISP/carrier block

# What MaxMind's GeoIP2-Connection-Type and GeoIP2-Enterprise say of each kind of network:
# (connection_type, traits.user_type). Datacenters are "Corporate" lines with user type
# hosting; a residential-proxy exit looks like the home or phone line it runs on (its parent).
NETWORK_TYPES = {
    RESIDENTIAL: ("Cable/DSL", "residential"), MOBILE: ("Cellular", "cellular"),
    CAMPUS: ("Corporate", "university"), OFFICE: ("Corporate", "business"),
    HOSTING: ("Corporate", "hosting"), VPN: ("Corporate", "hosting"), TOR: ("Corporate", "hosting"),
    PUBLIC_PROXY: ("Corporate", "hosting"),
}

ANON_FLAGS = ("is_anonymous", "is_anonymous_vpn", "is_hosting_provider", "is_tor_exit_node",
              "is_public_proxy", "is_residential_proxy")


@dataclass(eq=False)
class SimNetwork:
    key: str
    kind: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    asn: int
    org: str
    provider: str
    city: City
    registered_country: str
    accuracy_radius: int
    anonymous: dict[str, bool] = field(default_factory=dict)  # as written ({}: not listed)
    parent: SimNetwork | None = None    # resi_proxy subnets live inside an ISP block
    nat_pool: tuple[str, ...] = ()        # public NAT addresses users appear behind
    v6: SimNetwork | None = None        # IPv6 sibling block (same ISP/city)
    pool: str | None = None               # residential-proxy pool name
    reserved: list[tuple[int, int]] = field(default_factory=list)  # sub-ranges host() avoids

    @property
    def country(self) -> str:
        return self.city.country

    @property
    def version(self) -> int:
        return self.network.version

    def address(self, rand: Rand) -> str:
        """A random usable address in this network (NAT pool if it has one)."""
        if self.nat_pool:
            return rand.choice(self.nat_pool)
        return self.host(rand)

    def host(self, rand: Rand) -> str:
        net = self.network
        if net.version == 4:
            size = net.num_addresses
            base = int(net.network_address)
            for _ in range(20):
                off = 1 + int(rand.random() * (size - 2)) if size > 4 else int(rand.random() * size)
                if not self.reserved or not any(lo <= base + off <= hi for lo, hi in self.reserved):
                    break
            return str(ipaddress.IPv4Address(base + off))
        # IPv6: a random /64 inside the block plus a random interface id
        base = int(net.network_address)
        host_bits = 128 - net.prefixlen
        sub64 = int(rand.random() * (1 << min(host_bits - 64, 52))) << 64
        iid = (int(rand.random() * (1 << 52)) << 12) | int(rand.random() * 4096)
        return str(ipaddress.IPv6Address(base | sub64 | (iid or 1)))

    def host_in_prefix(self, prefix: str, rand: Rand) -> str:
        """Another interface id inside the /64 of ``prefix`` (IPv6 privacy addresses)."""
        p = int(ipaddress.IPv6Address(prefix)) >> 64 << 64
        iid = (int(rand.random() * (1 << 52)) << 12) | int(rand.random() * 4096)
        return str(ipaddress.IPv6Address(p | (iid or 1)))

    def network_type(self) -> tuple[str, str]:
        """(connection_type, user_type) as the GeoIP2 files say (NETWORK_TYPES)."""
        if self.kind == RESI_PROXY:
            return _parent_block(self).network_type()
        return NETWORK_TYPES[self.kind]

    def city_record(self) -> dict:
        c = self.city
        rec = {
            "continent": {"code": continent_of(c.country),
                          "geoname_id": _stable_int("cont:" + continent_of(c.country), 7),
                          "names": {"en": CONTINENTS[continent_of(c.country)]}},
            "country": {"geoname_id": _stable_int("country:" + c.country, 6), "iso_code": c.country,
                        "names": {"en": country_name(c.country)}},
            "registered_country": {"geoname_id": _stable_int("country:" + self.registered_country, 6),
                                   "iso_code": self.registered_country,
                                   "names": {"en": country_name(self.registered_country)}},
            "location": {"accuracy_radius": self.accuracy_radius, "latitude": c.lat,
                         "longitude": c.lon, "time_zone": c.tz},
        }
        if self.accuracy_radius < 500:
            rec["city"] = {"geoname_id": c.geoname_id, "names": {"en": c.name}}
        return rec


def _stable_int(text: str, digits: int) -> int:
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return 10 ** (digits - 1) + h % (9 * 10 ** (digits - 1))


def _parent_block(sub: SimNetwork) -> SimNetwork:
    """The ISP or carrier block a residential-proxy subnet lives in (every one has one)."""
    if sub.parent is None:
        raise ValueError(f"residential-proxy subnet {sub.key} has no parent block")
    return sub.parent


# ---- providers (fixed tables) -----------------------------------------------------------

# country -> [(isp name, asn, has IPv6)]
RESIDENTIAL_ISPS: dict[str, list[tuple[str, int, bool]]] = {
    "US": [("Northwind Broadband", 7016, True), ("Summit Fiber", 20115, True), ("Prairie Telecom", 22773, False)],
    "GB": [("Albion Broadband", 5089, True), ("Thames Fibre", 13285, False)],
    "DE": [("Rheinnetz GmbH", 3320, True), ("Nordkabel GmbH", 31334, True)],
    "FR": [("Hexagone Telecom", 3215, True), ("Lumiere Fibre", 12322, True)],
    "IN": [("Bharat Netlink", 24560, True), ("Deccan Broadband", 45609, False)],
    "BR": [("Pampa Telecom", 28573, False), ("Cerrado Fibra", 18881, True)],
    "JP": [("Sakura Hikari Net", 2516, True), ("Kanto Broadband", 17676, True)],
    "KR": [("Hangang Telecom", 4766, True), ("Baekdu Broadband", 9318, False)],
    "NG": [("Niger Delta Broadband", 37282, False), ("Savanna Net", 36873, False)],
    "ID": [("Nusantara Net", 7713, False), ("Garuda Broadband", 17974, False)],
    "CA": [("Maple Broadband", 812, True), ("Laurentian Fibre", 577, False)],
    "AU": [("Southern Cross Internet", 1221, True), ("Outback Broadband", 4804, False)],
    "PL": [("Wisla Net", 5617, False), ("Mazowsze Telekom", 12741, False)],
    "NL": [("Polder Kabel", 33915, True), ("Delta Glasvezel", 1136, True)],
    "SG": [("Merlion Broadband", 9506, True)],
    "RU": [("Volga Telecom", 12389, False), ("Ural Set", 8359, False)],
    "CN": [("Huaxia Telecom", 4134, False), ("Changjiang Unicom", 4837, False)],
    "IR": [("Alborz Net", 58224, False)],
    "KP": [("Chollima Net", 131279, False)],
}
MOBILE_CARRIERS: dict[str, list[tuple[str, int, bool]]] = {
    "US": [("Liberty Wireless", 21928, True), ("Horizon Mobile", 22394, True)],
    "GB": [("Britannia Mobile", 25135, False), ("Lion Mobile", 12576, False)],
    "DE": [("Funkwerk Mobil", 3209, True)],
    "FR": [("Azur Mobile", 51207, True)],
    "IN": [("Sangam Mobile", 55836, True), ("Indus Cellular", 45271, True)],
    "BR": [("Tucano Movel", 26599, False)],
    "JP": [("Fuji Mobile", 9605, True)],
    "KR": [("Arirang Mobile", 17858, True)],
    "NG": [("Naija Mobile", 29465, False), ("Zuma Telecom", 37148, False)],
    "ID": [("Merapi Seluler", 23693, False), ("Komodo Mobile", 24203, False)],
    "CA": [("Aurora Wireless", 7122, False)],
    "AU": [("Wattle Mobile", 4805, False)],
    "PL": [("Bursztyn Mobile", 12912, False)],
    "NL": [("Tulp Mobiel", 50266, False)],
    "SG": [("Lion City Mobile", 4773, False)],
    "RU": [("Taiga Mobile", 25159, False)],
    "CN": [("Panda Mobile", 9808, False)],
    "IR": [("Persepolis Mobile", 197207, False)],
}

# hosting providers: name, asn, registered country, [(country, city)], flagged share
HOSTING_PROVIDERS: list[tuple[str, int, str, list[tuple[str, str]], float]] = [
    ("Nimbus Compute", 14618, "US", [("US", "Ashburn"), ("US", "Seattle"), ("DE", "Frankfurt am Main"),
                                     ("GB", "London"), ("JP", "Tokyo"), ("SG", "Singapore"), ("IN", "Mumbai"),
                                     ("BR", "São Paulo"), ("AU", "Sydney"), ("CA", "Montreal"), ("KR", "Seoul"),
                                     ("FR", "Paris")], 1.0),
    ("Azimuth Cloud", 8075, "US", [("US", "Chicago"), ("US", "San Francisco"), ("NL", "Amsterdam"),
                                   ("FR", "Paris"), ("JP", "Osaka"), ("IN", "Chennai"), ("AU", "Melbourne")], 1.0),
    ("OceanGrid Hosting", 14061, "US", [("US", "New York"), ("NL", "Amsterdam"), ("GB", "London"),
                                        ("DE", "Frankfurt am Main"), ("SG", "Singapore"), ("IN", "Bengaluru"),
                                        ("CA", "Toronto"), ("AU", "Sydney")], 1.0),
    ("Kestrel Hosting GmbH", 24940, "DE", [("DE", "Berlin"), ("DE", "Frankfurt am Main"), ("US", "Ashburn")], 1.0),
    ("Fjordline Servers BV", 60781, "NL", [("NL", "Amsterdam"), ("NL", "Rotterdam"), ("DE", "Hamburg")], 0.5),
    ("Baltic VPS", 212238, "PL", [("PL", "Warsaw"), ("NL", "Amsterdam"), ("RU", "Moscow")], 0.7),
    ("Volga Datacenter", 49505, "RU", [("RU", "Moscow"), ("RU", "Saint Petersburg")], 1.0),
    ("Dragon Cloud", 45102, "CN", [("CN", "Shanghai"), ("CN", "Beijing"), ("SG", "Singapore")], 1.0),
    ("Lagoon Data Hub", 328543, "NG", [("NG", "Lagos")], 0.0),
]

# VPN providers: name, own asn (None: exits rented inside a hosting provider), registered country,
# hosting provider used for rented exits, exit countries, share of exits flagged as VPN
VPN_PROVIDERS: list[tuple[str, int | None, str, str | None, list[str], float]] = [
    ("Shroud Networks", 209854, "PA", None,
     ["US", "GB", "DE", "NL", "FR", "JP", "SG", "CA", "AU", "BR", "IN", "PL", "KR"], 1.0),
    ("Burrow Privacy", None, "VG", "OceanGrid Hosting",
     ["US", "GB", "DE", "NL", "SG", "IN", "CA", "AU"], 0.9),
    ("Kite VPN", 396356, "SC", None, ["US", "GB", "DE", "NL", "SG", "JP", "CA", "FR"], 0.6),
    ("Privalink", None, "NL", "Fjordline Servers BV", ["NL", "DE", "US"], 0.8),
]
TOR_OPERATORS = [("Freie Relays e.V.", 205100, "DE", ("DE", "Berlin")),
                 ("Stichting Exit", 200052, "NL", ("NL", "Amsterdam")),
                 ("Onion Relay Society", 396507, "US", ("US", "Seattle")),
                 ("Relais Libres", 208323, "FR", ("FR", "Paris"))]
# residential proxy pools: name, flagged share, countries, subnets per country, in mobile space
RESI_PROXY_POOLS = [
    ("PeerMesh", 0.7, ["US", "GB", "DE", "CA", "AU", "FR", "BR", "IN", "ID", "NG", "PL", "NL", "JP"], 8, False),
    ("HomeRoute", 0.25, ["US", "GB", "DE", "CA", "AU", "JP", "KR", "FR", "NL"], 6, False),
    ("GhostLine", 0.0, ["US", "GB", "CA", "DE", "AU"], 5, False),
    ("MobiProx", 0.1, ["US", "GB", "DE", "ID", "IN", "BR", "NG", "FR"], 4, True),
]

# campuses (education/research) and offices (enterprise/startup)
# key, org name, asn, country, city, email domain, org_type
CAMPUSES = [
    ("westbridge", "Westbridge University", 3, "US", "Boston", "westbridge.edu", "education"),
    ("pacificstate", "Pacific State University", 7377, "US", "Los Angeles", "pacificstate.edu", "education"),
    ("nvale", "University of Northumbria Vale", 786, "GB", "Manchester", "nvale.ac.uk", "education"),
    ("turheinau", "Technische Universitaet Rheinau", 680, "DE", "Munich", "tu-rheinau.de", "education"),
    ("lumierenord", "Universite Lumiere Nord", 2200, "FR", "Lille", "univ-lumiere-nord.fr", "education"),
    ("iistd", "Institute of Science and Technology Deccan", 55824, "IN", "Hyderabad", "iistd.ac.in", "education"),
    ("ufcerrado", "Universidade Federal do Cerrado", 1916, "BR", "Brasília", "ufcerrado.edu.br", "education"),
    ("kantotech", "Kanto Institute of Technology", 2907, "JP", "Tokyo", "kanto-tech.ac.jp", "education"),
    ("hanbit", "Hanbit National University", 1781, "KR", "Seoul", "hanbit.ac.kr", "education"),
    ("lagooncity", "Lagoon City University", 327937, "NG", "Lagos", "lagooncity.edu.ng", "education"),
    ("itn", "Institut Teknologi Nusantara", 4796, "ID", "Bandung", "itn.ac.id", "education"),
    ("lakeshore", "Lakeshore University", 239, "CA", "Toronto", "lakeshoreu.ca", "education"),
    ("scut", "Southern Cross University of Technology", 7575, "AU", "Melbourne", "scut.edu.au", "education"),
    ("pwislana", "Politechnika Wislana", 8501, "PL", "Kraków", "pwislana.edu.pl", "education"),
    ("brabanttech", "Brabant University of Technology", 1103, "NL", "Eindhoven", "brabant-tech.nl", "education"),
    ("helix", "Helix Biolabs Research Institute", 206981, "GB", "London", "helixbio.org.uk", "research"),
]
OFFICES = [
    ("acme", "Acme Logistics Inc", 393216, "US", "Chicago", "acmelogistics.com", "enterprise"),
    ("brightpath", "Brightpath Analytics", 397213, "US", "Seattle", "brightpath.io", "startup"),
    ("nordlicht", "Nordlicht Versicherung AG", 206412, "DE", "Hamburg", "nordlicht-ag.de", "enterprise"),
    ("papillon", "Papillon Conseil SAS", 204281, "FR", "Paris", "papillon-conseil.fr", "enterprise"),
    ("kaveri", "Kaveri Software Services", 134877, "IN", "Bengaluru", "kaverisoft.in", "enterprise"),
    ("ipetec", "Ipe Tecnologia", 268412, "BR", "São Paulo", "ipetec.com.br", "startup"),
    ("minato", "Minato Systems KK", 131921, "JP", "Tokyo", "minato-sys.co.jp", "enterprise"),
    ("sdworks", "Seoul Data Works", 152311, "KR", "Seoul", "sdworks.kr", "startup"),
    ("ekofin", "Eko Fintech Ltd", 328112, "NG", "Lagos", "ekofintech.ng", "startup"),
    ("mapleleaf", "Maple Leaf Robotics", 397845, "CA", "Vancouver", "mapleleafrobotics.ca", "startup"),
    ("koala", "Koala Health Pty Ltd", 136557, "AU", "Sydney", "koalahealth.com.au", "enterprise"),
    ("vistula", "Vistula Games SA", 212760, "PL", "Warsaw", "vistulagames.pl", "startup"),
    ("grachten", "Grachten Research Institute", 1125, "NL", "Amsterdam", "grachten.nl", "research"),
    ("marinaquant", "Marina Quant Pte Ltd", 138915, "SG", "Singapore", "marinaquant.sg", "startup"),
    ("greenlake", "Green Lake Media LLC", 401337, "US", "New York", "greenlakemedia.com", "enterprise"),
]


@dataclass(frozen=True)
class Site:
    """A campus or an office: its NAT network and its people's email domain."""
    key: str
    org: str
    city: City
    domain: str
    org_type: str
    network: SimNetwork


class Geo:
    """The fixed network map of the simulated world."""

    def __init__(self) -> None:
        self.networks: list[SimNetwork] = []
        self.residential: dict[str, list[SimNetwork]] = {}   # country -> ISP city blocks
        self.mobile: dict[str, list[SimNetwork]] = {}        # country -> carrier gateways
        self.hosting: dict[str, list[SimNetwork]] = {}       # provider -> regions
        self.vpn_exits: dict[str, list[SimNetwork]] = {}     # provider -> exits
        self.tor_exits: list[SimNetwork] = []
        self.public_proxies: list[SimNetwork] = []
        self.resi_proxies: dict[str, list[SimNetwork]] = {}  # pool -> subnets
        self.campuses: list[Site] = []
        self.offices: list[Site] = []
        self._build()
        self._index()

    # -- construction -------------------------------------------------------------------
    def _build(self) -> None:
        r = Rand(GEO_SEED)
        # free IPv4 /16s (as integers), skipping 100.64.0.0/10 shared address space
        slots = [a << 24 | b << 16 for a in range(11, 127) for b in range(256)
                 if not (a == 100 and 64 <= b < 128)]
        r.shuffle(slots)
        self._slots = slots
        self._v6_next = 0
        sub: ipaddress.IPv4Network | ipaddress.IPv6Network  # v4 and v6 sub-blocks alike

        def slot16() -> ipaddress.IPv4Network:
            return ipaddress.IPv4Network((self._slots.pop(), 16))

        def v6_32() -> ipaddress.IPv6Network:
            k = self._v6_next
            self._v6_next += 1
            hi = 0x2A0C0000 + 0x11 * k + 0x100 * (k % 7)
            return ipaddress.IPv6Network((hi << 96, 32))

        def add(net: SimNetwork) -> SimNetwork:
            self.networks.append(net)
            return net

        # residential ISPs: one /16 per (ISP, city), optional IPv6 /40 per city in a /32
        for cc, isps in RESIDENTIAL_ISPS.items():
            country = COUNTRIES[cc]
            blocks = self.residential.setdefault(cc, [])
            for isp, asn, has_v6 in isps:
                v6 = v6_32() if has_v6 else None
                for i, c in enumerate(x for x in country.cities if x.weight > 0):
                    net = add(SimNetwork(f"res:{cc}:{isp}:{c.name}", RESIDENTIAL, slot16(), asn, isp, isp, c,
                                         cc, int(r.choice([5, 10, 20, 20, 50, 100]))))
                    if v6 is not None:
                        sub = ipaddress.IPv6Network((int(v6.network_address) | (i << 88), 40))
                        net.v6 = add(SimNetwork(net.key + ":v6", RESIDENTIAL, sub, asn, isp, isp, c, cc,
                                                net.accuracy_radius))
                    blocks.append(net)
        # mobile carriers: gateways in the two biggest cities; a /16 each with a CGNAT pool
        for cc, carriers in MOBILE_CARRIERS.items():
            country = COUNTRIES[cc]
            gws = self.mobile.setdefault(cc, [])
            big = sorted((x for x in country.cities if x.weight > 0), key=lambda x: -x.weight)[:2]
            for carrier, asn, has_v6 in carriers:
                v6 = v6_32() if has_v6 else None
                for i, c in enumerate(big):
                    block = slot16()
                    pool_size = max(3, round(country.weight / 2))
                    start = int(r.random() * 200) * 256
                    pool = tuple(str(block.network_address + start + 1 + 3 * j) for j in range(pool_size))
                    net = add(SimNetwork(f"mob:{cc}:{carrier}:{c.name}", MOBILE, block, asn, carrier, carrier, c,
                                         cc, r.choice([200, 500, 1000]), nat_pool=pool))
                    if v6 is not None:
                        sub = ipaddress.IPv6Network((int(v6.network_address) | (i << 88), 40))
                        net.v6 = add(SimNetwork(net.key + ":v6", MOBILE, sub, asn, carrier, carrier, c, cc,
                                                net.accuracy_radius))
                    gws.append(net)
        # campuses and offices: a /20 each, NAT through a handful of addresses
        for table, out, kind in ((CAMPUSES, self.campuses, CAMPUS), (OFFICES, self.offices, OFFICE)):
            for key, org, asn, cc, cname, domain, org_type in table:
                block = slot16()
                sub = ipaddress.IPv4Network((int(block.network_address) | (int(r.random() * 16) << 12), 20))
                pool = tuple(str(sub.network_address + 256 * 3 + 1 + j) for j in range(r.integers(2, 7)))
                c = COUNTRIES[cc].city(cname)
                net = add(SimNetwork(f"{kind}:{key}", kind, sub, asn, org, org, c, cc, 10, nat_pool=pool))
                out.append(Site(key, org, c, domain, org_type, net))
        # hosting providers: a /16 per provider, a /20 per region
        for name, asn, reg, regions, flagged in HOSTING_PROVIDERS:
            block = slot16()
            regs = self.hosting.setdefault(name, [])
            for i, (cc, cname) in enumerate(regions):
                sub = ipaddress.IPv4Network((int(block.network_address) | (i << 12), 20))
                flags = ({"is_anonymous": True, "is_hosting_provider": True} if r.random() < flagged else {})
                regs.append(add(SimNetwork(f"host:{name}:{cc}:{cname}", HOSTING, sub, asn, name, name,
                                           COUNTRIES[cc].city(cname), reg, 1000, flags)))
        # open proxies: a /26 carved out of the last region of two cheap providers
        for name in ("Baltic VPS", "Kestrel Hosting GmbH"):
            region = self.hosting[name][-1]
            sub = ipaddress.IPv4Network((int(region.network.network_address) | (15 << 8) | 64, 26))
            self.public_proxies.append(add(SimNetwork(
                f"proxy:{name}", PUBLIC_PROXY, sub, region.asn, region.org, name, region.city,
                region.registered_country, 1000,
                {"is_anonymous": True, "is_public_proxy": True, "is_hosting_provider": True}, parent=region)))
        # VPN exits: /24 per exit country (own ASN) or a /24 rented inside a hosting region
        for name, vpn_asn, reg, host, countries, flagged in VPN_PROVIDERS:
            exits = self.vpn_exits.setdefault(name, [])
            own = slot16() if vpn_asn is not None else None
            for i, cc in enumerate(countries):
                c = COUNTRIES[cc].capital if cc != "US" else COUNTRIES["US"].city(["New York", "Los Angeles"][i % 2])
                if own is not None and vpn_asn is not None:  # own is None exactly when vpn_asn is
                    sub = ipaddress.IPv4Network((int(own.network_address) | (i << 8), 24))
                    is_vpn = r.random() < flagged
                    flags = {"is_anonymous": True, "is_anonymous_vpn": True, "is_hosting_provider": True} if is_vpn \
                        else ({"is_anonymous": True, "is_hosting_provider": True} if r.random() < 0.5 else {})
                    exits.append(add(SimNetwork(f"vpn:{name}:{cc}", VPN, sub, vpn_asn, name, name, c, reg, 100, flags)))
                else:
                    if host is None:  # the table pairs "no own ASN" with a hosting provider
                        raise ValueError(f"VPN provider {name} has neither its own ASN nor a hosting provider")
                    hosted = [h for h in self.hosting[host] if h.country == cc] or self.hosting[host]
                    region = hosted[0]
                    sub = ipaddress.IPv4Network((int(region.network.network_address) | ((8 + i % 6) << 8), 24))
                    is_vpn = r.random() < flagged
                    flags = {"is_anonymous": True, "is_anonymous_vpn": True, "is_hosting_provider": True} if is_vpn \
                        else dict(region.anonymous)
                    exits.append(add(SimNetwork(f"vpn:{name}:{cc}", VPN, sub, region.asn, region.org, name,
                                                region.city, region.registered_country, region.accuracy_radius,
                                                flags, parent=region)))
        # Tor exits: a /24 per operator (only a few dozen relays inside are used)
        for name, asn, reg, (cc, cname) in TOR_OPERATORS:
            block = slot16()
            sub = ipaddress.IPv4Network((int(block.network_address) | (int(r.random() * 256) << 8), 24))
            self.tor_exits.append(add(SimNetwork(
                f"tor:{name}", TOR, sub, asn, name, name, COUNTRIES[cc].city(cname), reg, 100,
                {"is_anonymous": True, "is_tor_exit_node": True},
                nat_pool=tuple(str(sub.network_address + 10 + 3 * j) for j in range(24)))))
        # residential proxy pools: /24s inside ISP (or carrier) blocks, flagged only in part
        for pool_name, flagged, countries, per_country, mobile in RESI_PROXY_POOLS:
            subs = self.resi_proxies.setdefault(pool_name, [])
            for cc in countries:
                parents = self.mobile.get(cc, []) if mobile else self.residential[cc]
                if not parents:
                    continue
                for j in range(per_country):
                    parent = parents[r.integers(0, len(parents))]
                    third = r.integers(0, 256)
                    sub = ipaddress.IPv4Network((int(parent.network.network_address) | (third << 8), 24))
                    if any(s.network == sub for s in subs):
                        continue
                    flags = {"is_anonymous": True, "is_residential_proxy": True} if r.random() < flagged else {}
                    subs.append(add(SimNetwork(f"rp:{pool_name}:{cc}:{j}", RESI_PROXY, sub, parent.asn, parent.org,
                                               pool_name, parent.city, parent.registered_country,
                                               parent.accuracy_radius, flags, parent=parent, pool=pool_name)))

    def _index(self) -> None:
        # a datacenter's own customers do not draw addresses from the VPN/proxy ranges rented inside it
        for n in self.networks:
            if n.parent is not None and n.parent.kind == HOSTING:
                n.parent.reserved.append((int(n.network.network_address), int(n.network.broadcast_address)))
        bases = sorted((n for n in self.networks if n.parent is None and n.version == 4),
                       key=lambda n: int(n.network.network_address))
        self._v4_starts = [int(n.network.network_address) for n in bases]
        self._v4_bases = bases
        self._v6_bases = [n for n in self.networks if n.parent is None and n.version == 6]
        self._subs = [n for n in self.networks if n.parent is not None]
        self.by_key = {n.key: n for n in self.networks}

    # -- lookups ------------------------------------------------------------------------
    def lookup(self, ip: str) -> SimNetwork | None:
        """The most specific world network containing ``ip`` (None: not in the world)."""
        addr = ipaddress.ip_address(ip)
        if addr.version == 6:
            for n in self._v6_bases:
                if addr in n.network:
                    return n
            return None
        for n in self._subs:
            if n.version == 4 and addr in n.network:
                return n
        i = bisect.bisect_right(self._v4_starts, int(addr)) - 1
        if i >= 0 and addr in self._v4_bases[i].network:
            return self._v4_bases[i]
        return None

    def all_hosting(self) -> list[SimNetwork]:
        return [n for regs in self.hosting.values() for n in regs]

    def hosting_in(self, country: str | None = None, flagged: bool | None = None) -> list[SimNetwork]:
        out = self.all_hosting()
        if country is not None:
            out = [n for n in out if n.country == country] or out
        if flagged is not None:
            out = [n for n in out if bool(n.anonymous) == flagged] or out
        return out

    def vpn_exit(self, rand: Rand, country: str | None = None, provider: str | None = None) -> SimNetwork:
        provs = [provider] if provider else list(self.vpn_exits)
        prov = rand.choice(provs)
        exits = self.vpn_exits[prov]
        if country is not None:
            exits = [e for e in exits if e.country == country] or exits
        return rand.choice(exits)

    def resi_proxy_subnets(self, countries: Iterable[str] | None = None, pools: Iterable[str] | None = None,
                           mobile: bool | None = None) -> list[SimNetwork]:
        pools = list(pools) if pools is not None else list(self.resi_proxies)
        out = [s for p in pools for s in self.resi_proxies[p]]
        if mobile is not None:
            out = [s for s in out if (_parent_block(s).kind == MOBILE) == mobile]
        if countries is not None:
            cs = set(countries)
            out = [s for s in out if s.country in cs] or out
        return out

    # -- GeoIP files --------------------------------------------------------------------
    def write_geoip(self, directory: str | Path) -> dict[str, Path]:
        """Write city.mmdb, asn.mmdb, anonymous.mmdb, connection_type.mmdb and enterprise.mmdb
        (traits.user_type and connection_type only) into ``directory``."""
        from mmdb_writer import MmdbU16, MmdbU32, MMDBWriter
        from netaddr import IPSet

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        desc = "riskengine simulated world (fictional networks)"
        city_w = MMDBWriter(6, "GeoIP2-City", languages=["en"], description=desc, ipv4_compatible=True)
        asn_w = MMDBWriter(6, "GeoLite2-ASN", languages=["en"], description=desc, ipv4_compatible=True)
        anon_w = MMDBWriter(6, "GeoIP2-Anonymous-IP", languages=["en"], description=desc, ipv4_compatible=True)
        conn_w = MMDBWriter(6, "GeoIP2-Connection-Type", languages=["en"], description=desc, ipv4_compatible=True)
        ent_w = MMDBWriter(6, "GeoIP2-Enterprise", languages=["en"], description=desc, ipv4_compatible=True)

        def u(rec):  # geoname ids and accuracy radius with MaxMind's integer types
            out = {}
            for k, v in rec.items():
                if isinstance(v, dict):
                    out[k] = u(v)
                elif k == "geoname_id":
                    out[k] = MmdbU32(v)
                elif k == "accuracy_radius":
                    out[k] = MmdbU16(v)
                else:
                    out[k] = v
            return out

        for n in self.networks:
            ipset = IPSet([str(n.network)])
            if n.parent is None:
                city_w.insert_network(ipset, u(n.city_record()))
                asn_w.insert_network(ipset, {"autonomous_system_number": MmdbU32(n.asn),
                                             "autonomous_system_organization": n.org})
        # parents first so the subnets inside them override (sorted by prefix length)
        for n in sorted(self.networks, key=lambda n: (n.version, n.network.prefixlen)):
            connection_type, user_type = n.network_type()
            conn_w.insert_network(IPSet([str(n.network)]), {"connection_type": connection_type})
            ent_w.insert_network(IPSet([str(n.network)]), {"traits": {"connection_type": connection_type,
                                                                       "user_type": user_type}})
        # parents first so flagged subnets override (sorted by prefix length)
        for n in sorted((n for n in self.networks if n.anonymous), key=lambda n: (n.version, n.network.prefixlen)):
            anon_w.insert_network(IPSet([str(n.network)]), {k: True for k in ANON_FLAGS if n.anonymous.get(k)})
        paths = {"city": directory / "city.mmdb", "asn": directory / "asn.mmdb",
                 "anonymous": directory / "anonymous.mmdb", "connection_type": directory / "connection_type.mmdb",
                 "enterprise": directory / "enterprise.mmdb"}
        conn_w.to_db_file(str(paths["connection_type"]))
        ent_w.to_db_file(str(paths["enterprise"]))
        city_w.to_db_file(str(paths["city"]))
        asn_w.to_db_file(str(paths["asn"]))
        anon_w.to_db_file(str(paths["anonymous"]))
        return paths


_GEO: Geo | None = None


def get_geo() -> Geo:
    """The (cached) fixed world geography."""
    global _GEO
    if _GEO is None:
        _GEO = Geo()
    return _GEO


def write_geoip(directory: str | Path) -> dict[str, Path]:
    return get_geo().write_geoip(directory)


def distance_km(a: City, b: City) -> float:
    return great_circle_km(a.lat, a.lon, b.lat, b.lon)
