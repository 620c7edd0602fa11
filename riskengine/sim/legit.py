"""The legitimate population of the simulated world: its segments (regular users, mobile
carrier NAT, campuses, offices, travellers, VPN and Tor users, ...) and their logins."""
from __future__ import annotations

from typing import TypedDict

from riskengine.sim import identity as idt
from riskengine.sim.builder import HUMAN_HOURS, LEGIT, WORK_HOURS, Builder, SimAccount
from riskengine.sim.geo import COUNTRIES, LEGIT_COUNTRIES, RESTRICTED, City, SimNetwork, Site
from riskengine.sim.identity import SimDevice
from riskengine.sim.params import WorldParams
from riskengine.sim.rand import Rand, Weighted

# ---------------------------------------------------------------------------------------
# Legitimate population
# ---------------------------------------------------------------------------------------

LEGIT_SEGMENT_WEIGHTS = [
    ("regular", 0.60), ("cgnat_mobile", 0.10), ("vpn_user", 0.06), ("campus_nat", 0.04),
    ("office_nat", 0.035), ("family_shared_device", 0.02), ("traveller", 0.04), ("expat", 0.03),
    ("developer", 0.02), ("alias_user", 0.015), ("privacy_tor", 0.004),
]
LEGIT_SEGMENTS = Weighted(LEGIT_SEGMENT_WEIGHTS)
EXPAT_ORIGINS = {
    "US": ["IN", "CN", "KR", "BR", "NG", "RU", "IR", "PL"], "GB": ["IN", "PL", "NG", "FR", "DE", "BR"],
    "DE": ["PL", "RU", "IR", "FR", "BR"], "FR": ["DE", "BR", "PL"], "NL": ["ID", "PL", "DE", "IN"],
    "CA": ["IN", "CN", "FR", "IR", "KR"], "AU": ["CN", "IN", "GB", "KR"], "SG": ["CN", "IN", "ID"],
    "JP": ["CN", "KR", "BR", "ID"], "KR": ["CN", "US"], "PL": ["DE", "GB"],
}
VPN_PROVIDER_PREF = Weighted([("Shroud Networks", 40), ("Burrow Privacy", 25), ("Kite VPN", 20), ("Privalink", 15)])
LOGIN_METHODS = Weighted([("password", 72), ("sso", 16), ("passkey", 8), ("magic_link", 4)])
PLUS_TAGS = ("shopping", "ai", "work", "news", "apps", "signup", "dev", "test", "promo", "riskapp", "2026")


class _LoginCommon(TypedDict):
    """The keyword arguments ``Builder.emit`` gets for every event of one legitimate login."""
    fraud: bool
    campaign: str
    campaign_id: str
    segment: str
    tz: str | None


_SEGMENT_PARAMS = {"cgnat_mobile": "cgnat_share", "vpn_user": "vpn_share", "campus_nat": "campus_share",
                   "office_nat": "office_share", "traveller": "travel_share", "expat": "expat_share",
                   "family_shared_device": "family_share", "developer": "developer_share"}


def _segments(p: WorldParams) -> Weighted:
    if all(getattr(p, name) == 1.0 for name in _SEGMENT_PARAMS.values()):
        return LEGIT_SEGMENTS           # the default world draws exactly as it always did
    return Weighted([(seg, w * (getattr(p, _SEGMENT_PARAMS[seg]) if seg in _SEGMENT_PARAMS else 1.0))
                     for seg, w in LEGIT_SEGMENT_WEIGHTS])


def _nat_address(net: SimNetwork, r: Rand, share: float) -> str:
    """An address of the network's NAT pool, using only `share` of the pool (crowding)."""
    if share >= 1.0 or not net.nat_pool:
        return net.address(r)
    pool = net.nat_pool[:max(1, round(len(net.nat_pool) * share))]
    return r.choice(pool)


class LegitPopulation:
    def __init__(self, b: Builder):
        self.b = b
        self.r = b.rs["legit"]
        self.rl = b.rs["legit_logins"]
        self.geo = b.geo
        self.p = b.params
        self.rv = b.rs["variation"]      # draws that only a varied parameter needs
        self.rc = b.rs["challenges"]
        self.segments = _segments(b.params)

    # -- network helpers --------------------------------------------------------------------
    def home_network(self, r: Rand, city: City) -> SimNetwork:
        blocks = [n for n in self.geo.residential[city.country] if n.city == city]
        return r.choice(blocks)

    def carrier(self, r: Rand, city: City) -> SimNetwork | None:
        gws = self.geo.mobile.get(city.country)
        if not gws:
            return None
        carriers = list(dict.fromkeys(g.org for g in gws))
        org = r.choice(carriers)
        mine = [g for g in gws if g.org == org]
        local = [g for g in mine if g.city == city]
        return (local or mine)[0] if local or r.random() < 0.7 else r.choice(mine)

    # -- people -----------------------------------------------------------------------------
    def run(self) -> None:
        r = self.r
        made = 0
        while made < self.b.n_legit:
            seg = self.segments.pick(r)
            left = self.b.n_legit - made
            if seg == "family_shared_device":
                made += self.family(r, min(left, r.integers(2, 5)))
            elif seg == "campus_nat" and r.random() < 0.06 and left >= 8:
                made += self.cohort(r, min(left, r.integers(8, 31)))
            else:
                self.single(r, seg)
                made += 1

    def signup_ts(self, r: Rand, tz: str) -> int:
        c = self.b.clock
        for _ in range(20):
            ts = c.local_ts(r, r.integers(0, c.days), tz)
            if c.t0 <= ts < c.t1 - 1800:
                return ts
        return c.t0 + int(r.random() * (c.t1 - c.t0 - 1800))

    def make_profile(self, r: Rand, person: idt.Person, country: str, city: City, *, seg: str,
                     site: Site | None = None, email: str | None = None, org_type: str | None = None,
                     phone_country: str | None = None) -> dict:
        b = self.b
        profile: dict = {"id": b.new_account_id()}
        if email is None:
            if site is not None and r.random() < 0.7:
                first, last = idt.fold(person.first), idt.fold(person.last)
                local = r.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{last[0]}",
                                  f"{last}{first[0]}{r.integers(1, 99)}"))
                domain = site.domain if site.org_type != "education" or r.random() < 0.6 else "stud." + site.domain
                email = b.unique_email(r, local, domain)
            elif seg == "developer" and r.random() < 0.4:
                email = b.unique_email(r, idt.fold(person.first), idt.company_domain(r, country))
            else:
                domain = idt.free_domain(r, person.origin if r.random() < 0.3 else country)
                local = idt.local_part(r, person)
                if seg == "alias_user":
                    domain = "gmail.com" if r.random() < 0.85 else r.choice(("outlook.com", "proton.me", "icloud.com"))
                    local = f"{local}+{r.choice(PLUS_TAGS)}"
                email = b.unique_email(r, local, domain)
                if r.random() < 0.03:
                    email = email[0].upper() + email[1:]
        else:
            b.claim_email(email)
        if r.random() > 0.015:
            profile["email"] = email
        pc = phone_country or country
        p_phone = {"cgnat_mobile": 0.85, "traveller": 0.75, "developer": 0.5, "privacy_tor": 0.1}.get(seg, 0.66)
        if r.random() < p_phone and pc in idt.MOBILE_PATTERNS:
            e164 = idt.mobile_number(r, pc, city.area_codes if pc == country else ())
            if r.random() < 0.04:
                e164 = idt.landline_number(r, pc) or e164
            profile["phone"] = idt.present_phone(r, e164)
        elif r.random() < 0.1:
            profile["phone"] = None
        if r.random() < 0.9:
            profile["name"] = idt.display_name(r, person)
        x = r.random()
        if x < 0.86:
            profile["country"] = country
        elif x < 0.93:
            profile["country"] = None
        if org_type is None:
            org_type = site.org_type if site is not None else ("startup" if seg == "developer" else "individual")
        if r.random() < 0.8:
            profile["org_type"] = org_type
        return profile

    def make_devices(self, r: Rand, seg: str, country: str, city: City, tz: str, langs: tuple) -> list[SimDevice]:
        devs = []
        if seg == "privacy_tor":
            devs.append(idt.tor_device(r))
            if r.random() < 0.7:
                devs.append(idt.browser_device(r, "phone", country, tz, langs, hw_skew=self.p.hw_skew))
            return devs
        if seg == "cgnat_mobile" or r.random() < 0.88:
            # a fifth of phone users come through the service's native app, not a browser
            phone = (idt.app_device(r, country, tz, langs) if r.random() < 0.2
                     else idt.browser_device(r, "phone", country, tz, langs, hw_skew=self.p.hw_skew))
            devs.append(phone)
        if seg != "cgnat_mobile" and (not devs or r.random() < (0.9 if seg in ("developer", "office_nat") else 0.62)):
            devs.insert(0, idt.browser_device(r, "desktop", country, tz, langs, hw_skew=self.p.hw_skew))
        if seg != "cgnat_mobile" and r.random() < 0.08:
            devs.append(idt.browser_device(r, "tablet", country, tz, langs, hw_skew=self.p.hw_skew))
        return devs

    def base_state(self, r: Rand, seg: str, city: City) -> dict:
        home = self.home_network(r, city)
        st = {
            "home": home, "home_ip": home.host(r),
            "home_v6": home.v6.host(r) if home.v6 is not None and r.random() < 0.6 else None,
            "mobile": self.carrier(r, city),
            "method": LOGIN_METHODS.pick(r),
            "rate": min(3.0, r.lognormal(-1.5, 0.9)),   # logins per day
            "fail_p": 0.12 if r.random() < 0.1 else 0.03,
            "has_home": seg != "cgnat_mobile" or r.random() < 0.25,
        }
        if st["mobile"] is not None and st["mobile"].v6 is not None and r.random() < 0.5:
            st["mobile_v6"] = st["mobile"].v6.host(r)
        return st

    def single(self, r: Rand, seg: str, *, site: Site | None = None) -> SimAccount:
        origin = None
        if seg == "campus_nat" or seg == "office_nat":
            site = site or self.pick_site(r, seg)
            country, city = site.city.country, site.city
        else:
            country = LEGIT_COUNTRIES.pick(r)
            city = COUNTRIES[country].resident_cities.pick(r)
        if seg == "cgnat_mobile" and not self.geo.mobile.get(country):
            seg = "regular"
        if seg == "regular" and country in RESTRICTED and r.random() < 0.6:
            seg = "vpn_user"  # in restricted regions most people reach us through a VPN
        if seg == "expat":
            origin = r.choice(EXPAT_ORIGINS.get(country, ["US", "GB", "IN"]))
        home_country = origin or country  # where the person is from: ``origin`` for expats
        person = idt.person(r, home_country)
        locale = COUNTRIES[home_country].locale_choice.pick(r)
        tz = city.tz
        if seg == "expat" and r.random() < self.p.expat_home_tz_p:
            tz = COUNTRIES[home_country].primary_tz  # laptop still on home time
        phone_country = origin if (seg == "expat" and r.random() < 0.4) else country
        profile = self.make_profile(r, person, country if (seg != "expat" or r.random() < 0.6) else home_country,
                                    city, seg=seg, site=site, phone_country=phone_country)
        devices = self.make_devices(r, seg, country, city, tz, locale)
        payment = None
        if r.random() < 0.3:
            issuer = origin if (origin and r.random() < 0.5) else country
            payment = idt.card(r, issuer, billing_country=country)
        ts = self.signup_ts(r, tz)
        acct = self.b.add_account(fraud=False, campaign=LEGIT, campaign_id=LEGIT, segment=seg, country=country,
                                  created_ts=ts, profile=profile, devices=devices, payment=payment, home_city=city)
        acct.state.update(self.base_state(r, seg, city))
        self.vary(acct)
        acct.state["site"] = site
        if seg == "vpn_user":
            prov = VPN_PROVIDER_PREF.pick(r)
            exits = self.geo.vpn_exits[prov]
            same = [e for e in exits if e.country == country]
            acct.state["vpn"] = same[0] if same and r.random() < 0.55 else r.choice(exits)
        if seg == "traveller":
            self.plan_trip(r, acct)
        if seg == "developer":
            acct.state["cloud"] = r.choice(self.geo.hosting_in(country if r.random() < 0.6 else None))
            acct.state["sdk"] = idt.script_device(r, r.choice(idt.DEV_SDK_UAS))
        if devices and devices[0].browser_kind.startswith("iphone") and r.random() < 0.12 and "email" in profile:
            # "Sign in with Apple" with Hide My Email: a random relay address
            profile["email"] = self.b.unique_email(r, idt.random_local(r, 10), "privaterelay.appleid.com")
            acct.state["method"] = "sso"
        self.signup(r, acct)
        self.logins(acct)
        return acct

    def vary(self, acct: SimAccount) -> None:
        """The varied parameters' share of an account's habits (their own stream)."""
        st, p = acct.state, self.p
        if p.heavy_user_share > 0 and self.rv.random() < p.heavy_user_share:
            st["rate"] = self.rv.uniform(4.0, 12.0)
        if p.fail_p_scale != 1.0:
            st["fail_p"] = min(0.5, st["fail_p"] * p.fail_p_scale)

    def pick_site(self, r: Rand, seg: str) -> Site:
        sites = self.geo.campuses if seg == "campus_nat" else self.geo.offices
        return Weighted([(s, COUNTRIES[s.city.country].weight + 0.5) for s in sites]).pick(r)

    def signup(self, r: Rand, acct: SimAccount, ts: int | None = None, ip: str | None = None,
               device: SimDevice | None = None) -> None:
        ts = int(acct.created_at.timestamp()) if ts is None else ts
        if ip is None:
            ip, device, tz = self.session(r, acct, ts, signup=True)
        else:
            tz = None
        payment = dict(acct.payment) if acct.payment else None
        if r.random() < 0.015:  # collector blocked (ad blocker, old app): no device block at all
            device = None
        self.b.emit(ts, "signup", acct, ip, device, fraud=False, campaign=LEGIT, campaign_id=LEGIT,
                    segment=acct.segment, payment=payment, tz=tz)

    # -- sessions -----------------------------------------------------------------------------
    def _pick_device(self, r: Rand, acct: SimAccount, prefer: str) -> SimDevice | None:
        devs = acct.devices
        if not devs:
            return None
        # ~3% of sessions come from a device whose storage was cleared: new id, same hardware
        if r.random() < self.p.device_reset_p:
            i = r.integers(0, len(devs))
            devs[i] = devs[i].reset_id(r)
        shared = acct.state.get("shared_device")
        if shared is not None and prefer == "home" and r.random() < self.p.family_shared_p:
            return shared
        if prefer == "phone":
            phones = [d for d in devs if d.kind == "phone"]
            return phones[0] if phones else devs[0]
        if prefer == "desktop":
            desk = [d for d in devs if d.kind in ("desktop", "tablet")]
            return r.choice(desk) if desk else devs[0]
        return r.choice(devs)

    def session(self, r: Rand, acct: SimAccount, ts: int,
                signup: bool = False) -> tuple[str, SimDevice | None, str | None]:
        st = acct.state
        seg = acct.segment
        trip = st.get("trip")
        if trip and trip[0] <= ts < trip[1]:
            return self.abroad(r, acct, trip)
        x = r.random()
        if seg == "vpn_user":
            if x < (0.85 if signup else 0.72):
                return st["vpn"].host(r), self._pick_device(r, acct, "any"), None
            x = r.random() * 0.9
        elif seg == "privacy_tor":
            if x < 0.8:
                return r.choice(self.geo.tor_exits).address(r), acct.devices[0], None
            x = r.random() * 0.9
        elif seg == "campus_nat" or seg == "office_nat":
            if x < (0.8 if signup else 0.5):
                return (_nat_address(st["site"].network, r, self.p.site_pool_share),
                        self._pick_device(r, acct, "desktop" if seg == "office_nat" else "any"), None)
            x = r.random() * 0.9
        elif seg == "developer":
            if x < (0.5 if signup else 0.45):
                if not signup and r.random() < 0.6:
                    return st["cloud"].host(r), st["sdk"], None
                return st["cloud"].host(r), self._pick_device(r, acct, "desktop"), None
            x = r.random() * 0.9
        elif seg == "cgnat_mobile":
            x = 0.65 + 0.35 * x if x < 0.9 else 0.0
        # home (fixed line) / mobile / elsewhere in town
        if x < 0.6 and st["has_home"]:
            if st.get("home_v6") and r.random() < 0.5:
                ip = st["home"].v6.host_in_prefix(st["home_v6"], r)
            else:
                if r.random() < 0.03:  # dynamic address renewed
                    st["home_ip"] = st["home"].host(r)
                ip = st["home_ip"]
            return ip, self._pick_device(r, acct, "home" if r.random() < 0.6 else "any"), None
        if x < 0.95 and st["mobile"] is not None:
            if st.get("mobile_v6") and r.random() < 0.5:
                ip = st["mobile"].v6.host_in_prefix(st["mobile_v6"], r)
            else:
                ip = _nat_address(st["mobile"], r, self.p.cgnat_pool_share)
            return ip, self._pick_device(r, acct, "phone"), None
        assert acct.home_city is not None  # every legitimate account is given its home city
        other = self.home_network(r, acct.home_city)
        return other.host(r), self._pick_device(r, acct, "phone" if r.random() < 0.6 else "any"), None

    def plan_trip(self, r: Rand, acct: SimAccount) -> None:
        c = self.b.clock
        while True:
            dest = LEGIT_COUNTRIES.pick(r)
            if dest != acct.country and dest not in RESTRICTED:
                break
        city = COUNTRIES[dest].resident_cities.pick(r)
        lo = int(acct.created_at.timestamp()) + 86400
        start = lo + int(r.random() * max(0, c.t1 - 86400 - lo))
        end = start + int(r.uniform(2, 12) * 86400)
        acct.state["trip"] = (start, end, dest, city)
        acct.state["trip_fast"] = r.random() < 0.3

    def abroad(self, r: Rand, acct: SimAccount, trip) -> tuple[str, SimDevice | None, str | None]:
        _, _, dest, city = trip
        x = r.random()
        dev = self._pick_device(r, acct, "phone" if x < 0.75 else "desktop")
        tz = city.tz if (dev is None or dev.kind == "phone" or r.random() < 0.7) else None
        if x < 0.45:  # hotel / cafe wifi
            return self.home_network(r, city).host(r), dev, tz
        if x < 0.75 and acct.state["mobile"] is not None:  # roaming: traffic still exits at home
            return acct.state["mobile"].address(r), dev, tz
        gw = self.carrier(r, city)  # local SIM / eSIM
        if gw is None:
            return self.home_network(r, city).host(r), dev, tz
        return gw.address(r), dev, tz

    # -- logins -------------------------------------------------------------------------------
    def logins(self, acct: SimAccount) -> None:
        r = self.rl
        st = acct.state
        c = self.b.clock
        created = int(acct.created_at.timestamp())
        remaining = (c.t1 - created) / 86400
        n = r.poisson(st["rate"] * remaining)
        tz = acct.home_city.tz if acct.home_city else "UTC"
        times = []
        if r.random() < 0.45:
            times.append(created + 60 + int(r.expo(900)))
        d0 = c.day_of(created)
        for _ in range(n):
            day = d0 + int(r.random() * max(1.0, remaining))
            hours = WORK_HOURS if acct.segment == "office_nat" and r.random() < 0.6 else HUMAN_HOURS
            t = c.local_ts(r, day, tz, hours)
            if t > created + 120:
                times.append(t)
        trip = st.get("trip")
        if trip and st.get("trip_fast") and trip[0] > created + 7200:
            # logged in at home shortly before appearing abroad ("impossible" travel)
            times.append(trip[0] - int(r.uniform(1, 3) * 3600) - 1)
            times.append(trip[0] + int(r.uniform(60, 1800)))
        elif trip:
            times.append(trip[0] + int(r.uniform(2, 20) * 3600))
        for t in sorted(times):
            self.login(r, acct, t)

    def login(self, r: Rand, acct: SimAccount, ts: int) -> None:
        ip, dev, tz = self.session(r, acct, ts)
        if dev is not None and dev.kind != "script" and r.random() < 0.015:
            dev = None  # collector blocked: no device block at all
        method = acct.state["method"]
        if dev is not None and dev.kind == "script":
            method = "api_key"
        elif method == "passkey" and dev is not None and dev.kind == "desktop" and r.random() < 0.3:
            method = "password"
        elif method == "sso" and r.random() < 0.1:
            method = "password"
        common = _LoginCommon(fraud=False, campaign=LEGIT, campaign_id=LEGIT, segment=acct.segment, tz=tz)
        if method == "password" and r.random() < acct.state["fail_p"]:
            k = 1 if r.random() < 0.7 else r.integers(2, 4)
            t = ts - int(r.uniform(10, 60)) * k
            for _ in range(k):
                self.b.emit(t, "login", acct, ip, dev, account_block=self.b.login_block(r, acct),
                            login=("failure", "password"), **common)
                t += int(r.uniform(8, 60))
            if r.random() < 0.08:  # gave up (or reset the password by email later)
                return
        self.b.emit(ts, "login", acct, ip, dev, account_block=self.b.login_block(r, acct),
                    login=("success", method), challenge=self.challenge(acct, dev), **common)

    def challenge(self, acct: SimAccount, dev: SimDevice | None) -> str | None:
        """A login from a device the account never used is sometimes challenged; its owner
        nearly always passes (its own stream: the world's other draws stay as they were)."""
        if dev is None or not dev.id or any(d == dev.id for _, _, d, _ in acct.sessions):
            return None
        if self.rc.random() >= self.p.challenge_new_device_p:
            return None
        return "passed" if self.rc.random() < 0.93 else "abandoned"

    # -- groups ---------------------------------------------------------------------------------
    def family(self, r: Rand, size: int) -> int:
        country = LEGIT_COUNTRIES.pick(r)
        city = COUNTRIES[country].resident_cities.pick(r)
        last = idt.person(r, country).last
        locale = COUNTRIES[country].locale_choice.pick(r)
        shared = idt.browser_device(r, "tablet" if r.random() < 0.4 else "desktop", country, city.tz, locale,
                                    hw_skew=self.p.hw_skew)
        base = None
        family_card = idt.card(r, country) if r.random() < 0.35 else None
        first_ts = self.signup_ts(r, city.tz)
        for i in range(size):
            person = idt.person(r, country, last=last)
            profile = self.make_profile(r, person, country, city, seg="family_shared_device")
            if i == 0:
                family_phone = profile.get("phone")
            elif family_phone and r.random() < 0.25:  # a child given the parent's number
                profile["phone"] = family_phone
            devices = [shared]
            if i < 2 or r.random() < 0.5:
                devices.append(idt.browser_device(r, "phone", country, city.tz, locale, hw_skew=self.p.hw_skew))
            payment = None
            if family_card is not None and r.random() < 0.6:
                payment = dict(family_card)
            elif r.random() < 0.15:
                payment = idt.card(r, country)
            ts = first_ts if i == 0 else min(self.b.clock.t1 - 600, first_ts + int(r.expo(3 * 86400)) + 300)
            acct = self.b.add_account(fraud=False, campaign=LEGIT, campaign_id=LEGIT, segment="family_shared_device",
                                      country=country, created_ts=ts, profile=profile, devices=devices,
                                      payment=payment, home_city=city)
            if base is None:
                base = self.base_state(r, "family_shared_device", city)
            st = self.base_state(r, "family_shared_device", city)
            st.update(home=base["home"], home_ip=base["home_ip"], home_v6=base["home_v6"], has_home=True,
                      shared_device=shared)
            acct.state.update(st)
            self.vary(acct)
            if r.random() < 0.7:
                self.signup(r, acct, ip=base["home_ip"], device=shared)
            else:
                self.signup(r, acct)
            self.logins(acct)
        return size

    def cohort(self, r: Rand, size: int) -> int:
        """A lab session / workshop: a class signs up within ~90 minutes from the campus NAT."""
        site = self.pick_site(r, "campus_nat")
        country, city = site.city.country, site.city
        c = self.b.clock
        lab_kind = r.choice(("win_chrome", "win_edge", "mac_chrome", "linux_firefox"))
        lab_hw = f"lab:{site.key}:{r.integers(0, 3)}"
        locale = COUNTRIES[country].locale_choice.pick(r)
        lab = [idt.browser_device(r, "desktop", country, city.tz, locale, browser_kind=lab_kind, hw_label=lab_hw)
               for _ in range(r.integers(size, size + 10))]
        ua = lab[0].user_agent
        for d in lab:  # one image: same browser build on every machine
            d.user_agent, d.omit, d.nulls = ua, lab[0].omit, lab[0].nulls
        day = r.integers(0, c.days)
        t_start = c.local_ts(r, day, city.tz, WORK_HOURS)
        for i in range(size):
            person = idt.person(r, country)
            profile = self.make_profile(r, person, country, city, seg="campus_nat", site=site)
            own = self.make_devices(r, "regular", country, city, city.tz, COUNTRIES[country].locale_choice.pick(r))
            acct = self.b.add_account(fraud=False, campaign=LEGIT, campaign_id=LEGIT, segment="campus_nat",
                                      country=country, created_ts=t_start + int(r.uniform(0, 5400)),
                                      profile=profile, devices=own, payment=None, home_city=city)
            acct.state.update(self.base_state(r, "campus_nat", city))
            self.vary(acct)
            acct.state["site"] = site
            acct.state["cohort"] = True
            self.signup(r, acct, ip=site.network.address(r), device=lab[i])
            self.logins(acct)
        return size
