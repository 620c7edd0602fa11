"""Attack campaigns of the simulated world.

Each campaign *instance* (``bulk_farm-3``) is a burst over hours or days with its own
resources (addresses, devices, phone numbers, cards, mailboxes) and its own quality
(0 crude .. 1 careful), so a validation split can hold out whole instances.

Signup kinds (fake accounts): bulk_farm, alias_farm, antidetect_farm, hydra.
Login kinds (against legitimate accounts): ato, password_spray.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from riskengine.sim import identity as idt
from riskengine.sim.builder import UTC, WORK_HOURS, Builder, CampaignInfo, SimAccount
from riskengine.sim.geo import COUNTRIES, SimNetwork
from riskengine.sim.identity import SimDevice
from riskengine.sim.params import WorldParams
from riskengine.sim.rand import Rand, Weighted

SIGNUP_KIND_SHARE = {"bulk_farm": 0.30, "alias_farm": 0.15, "antidetect_farm": 0.25, "hydra": 0.30}
TARGET_COUNTRIES = ("US", "GB", "CA", "AU", "DE", "FR", "NL")
FARM_OPERATORS = Weighted([("NG", 3), ("ID", 3), ("IN", 2), ("RU", 3), ("BR", 2), ("CN", 2), ("PL", 1), ("US", 1)])
SMS_POOL_SPEC = (("ID", 80, 0), ("IN", 80, 0), ("RU", 60, 0), ("GB", 40, 30), ("NL", 20, 20), ("PL", 40, 0),
                 ("BR", 40, 0), ("NG", 40, 0), ("US", 60, 0), ("FR", 20, 10), ("CA", 20, 0))
BULK_HOSTING = Weighted([("OceanGrid Hosting", 4), ("Nimbus Compute", 3), ("Kestrel Hosting GmbH", 3),
                         ("Baltic VPS", 3), ("Fjordline Servers BV", 2), ("Azimuth Cloud", 2),
                         ("Volga Datacenter", 1), ("Dragon Cloud", 1), ("Lagoon Data Hub", 1)])
JUNK_PHONES = (lambda r: "+1555" + r.digits(7), lambda r: "0000000000", lambda r: "+999" + r.digits(8),
               lambda r: r.digits(6), lambda r: "+44" + r.digits(4))


class Campaigns:
    def __init__(self, b: Builder):
        self.b = b
        self.geo = b.geo
        self.clock = b.clock
        pr = b.rs["pools"]
        # SMS-activation pools: numbers rented out again and again (mobile SIM farms + VOIP ranges)
        self.sms: dict[str, list[str]] = {}
        for cc, n_mobile, n_voip in SMS_POOL_SPEC:
            nums = [idt.mobile_number(pr, cc) for _ in range(n_mobile)]
            nums += [idt.voip_number(pr, cc) for _ in range(n_voip)]
            pr.shuffle(nums)
            self.sms[cc] = nums
        self.legit = [a for a in b.accounts if not a.fraud]
        self.p = b.params
        self.rv = b.rs["variation"]
        self.rc = b.rs["challenges"]
        self.varied = b.params != WorldParams(attack_share=b.params.attack_share)

    # -- helpers --------------------------------------------------------------------------------
    def window(self, r: Rand, duration: float, lo: float = 0.02, hi: float = 0.98) -> int:
        c = self.clock
        span = c.t1 - c.t0
        a = c.t0 + int(span * lo)
        z = max(a + 1, c.t0 + int(span * hi) - int(duration))
        return a + int(r.random() * (z - a))

    @staticmethod
    def split(r: Rand, total: int, parts: int, minimum: int = 4) -> list[int]:
        w = [r.lognormal(0, 0.5) for _ in range(parts)]
        s = sum(w)
        return [max(minimum, int(round(total * x / s))) for x in w]

    def sms_numbers(self, r: Rand, k: int, prefer: str | None = None) -> list[str]:
        cc = prefer if prefer in self.sms and r.random() < 0.5 else r.choice(list(self.sms))
        return r.sample(self.sms[cc], k)

    def operator_locale(self, r: Rand, cc: str) -> tuple[str, tuple[str, ...]]:
        return COUNTRIES[cc].primary_tz, COUNTRIES[cc].locale_choice.pick(r)

    def record(self, cid: str, kind: str, variant: str, t_start: int, t_end: int, accounts: int, ev0: int,
               op: str | None, targets, q: float) -> None:
        self.b.campaigns.append(CampaignInfo(
            id=cid, kind=kind, variant=variant, start=datetime.fromtimestamp(t_start, tz=UTC),
            end=datetime.fromtimestamp(max(t_start, t_end), tz=UTC), accounts=accounts,
            events=len(self.b.raw) - ev0, operator_country=op, target_countries=tuple(targets), quality=round(q, 3)))

    def fake_account(self, r: Rand, *, kind: str, cid: str, seg: str, country: str, ts: int, profile: dict,
                     devices: list[SimDevice], payment: dict | None, op: str | None) -> SimAccount:
        return self.b.add_account(fraud=True, campaign=kind, campaign_id=cid, segment=seg, country=country,
                                  created_ts=ts, profile=profile, devices=devices, payment=payment,
                                  operator_country=op)

    def fake_logins(self, r: Rand, acct: SimAccount, n: int, t_from: int, spread: float, session) -> None:
        t = t_from
        for _ in range(n):
            t += int(r.expo(spread)) + 120
            ip, dev, tz = session()
            block = {"id": acct.id}
            if acct.profile.get("email") and r.random() < 0.9:
                block["email"] = acct.profile["email"]
            outcome = "failure" if r.random() < 0.04 else "success"
            self.b.emit(t, "login", acct, ip, dev, fraud=True, campaign=acct.campaign, campaign_id=acct.campaign_id,
                        segment=acct.segment, account_block=block, tz=tz, login=(outcome, "password"))

    # -- run --------------------------------------------------------------------------------------
    def run(self) -> None:
        n_fake = int(round(self.b.n_legit * self.b.attack_share))
        if n_fake <= 0:
            return
        for kind, share in SIGNUP_KIND_SHARE.items():
            r = self.b.rs[kind]
            n_kind = max(12, int(round(n_fake * share)))
            parts = max(3, min(8, int(round(n_kind / 45))))
            fn = getattr(self, kind)
            for i, size in enumerate(self.split(r, n_kind, parts)):
                fn(r, f"{kind}-{i + 1}", size)
        r = self.b.rs["ato"]
        n_ato = self.p.ato_campaigns or 3 + (self.b.n_legit >= 3000)
        for i in range(n_ato):
            if self.varied:
                variant = "ato_targeted" if self.rv.random() < self.p.ato_targeted_share else "ato_stuffing"
            else:
                variant = "ato_stuffing" if i % 3 != 1 else "ato_targeted"
            self.ato(r, f"ato-{i + 1}", variant)
        r = self.b.rs["password_spray"]
        for i in range(self.p.spray_campaigns):
            self.password_spray(r, f"password_spray-{i + 1}")

    # -- bulk farm --------------------------------------------------------------------------------
    def bulk_farm(self, r: Rand, cid: str, n: int) -> None:
        b, geo = self.b, self.geo
        ev0 = len(b.raw)
        q = r.random() * 0.5
        variant = "bulk_scripted" if r.random() < 0.55 else "bulk_headless"
        op = FARM_OPERATORS.pick(r)
        dur = r.uniform(1, 8) * 3600
        t0 = self.window(r, dur + 2 * 86400)
        x = r.random()
        if x < 0.6:
            provider = BULK_HOSTING.pick(r)
            regions = r.sample(geo.hosting[provider], r.integers(1, 3))
            ips = [r.choice(regions).host(r) for _ in range(r.integers(1, 9))]
        elif x < 0.82:
            ips = [r.choice(geo.public_proxies).host(r) for _ in range(r.integers(2, 10))]
        elif x < 0.95:  # the operator's own connection(s)
            ips = [r.choice(geo.residential[op]).host(r) for _ in range(r.integers(1, 3))]
        else:
            ips = [r.choice(geo.tor_exits).address(r) for _ in range(r.integers(3, 12))]
        op_tz, op_langs = self.operator_locale(r, op)
        if variant == "bulk_scripted":
            devs = [idt.script_device(r, ua, with_id=r.random() < 0.4)
                    for ua in r.sample(idt.SCRIPT_UAS, r.integers(1, 4))]
        else:
            tz = "UTC" if r.random() < 0.5 else op_tz
            devs = [idt.headless_device(r, tz, ("en-US",) if r.random() < 0.7 else op_langs,
                                        hw_label=f"headless:{cid}:{j % 2}") for j in range(r.integers(2, 6))]
            if q > 0.3:  # patched automation flag
                for d in devs:
                    if r.random() < 0.5:
                        d.webdriver = False
        estyles = Weighted([("disposable", 35), ("disposable_unlisted", 15), ("freemail_random", 30),
                            ("pattern", 20)])
        primary = estyles.pick(r)
        disposable = r.sample(idt.DISPOSABLE_LISTED, r.integers(1, 4))
        unlisted = [idt.fresh_throwaway_domain(r) for _ in range(r.integers(1, 3))]
        word = r.choice(("promo", "user", "acc", "bonus", "free", "trial", "gpt", "farm"))
        pdomain = r.choice(("outlook.com", "gmail.com", "yahoo.com", "hotmail.com"))
        seq = r.integers(1, 5000)
        nstyle = r.choice(("none", "gibberish", "plausible", "fixed"))
        fixed_name = r.choice(("John Smith", "Test User", "Alex", "user"))
        cards = [idt.card(r, r.choice(("US", "GB", "NG", "ID")), funding="prepaid") for _ in range(r.integers(1, 4))]
        p_card = 0.25 if r.random() < 0.6 else 0.0
        regular = r.random() < 0.5
        declared = r.choice(("US", "US", "GB", None, op))
        t = t0
        for k in range(n):
            t = t0 + int(dur * k / n + r.uniform(-20, 20)) if regular else t + int(r.expo(dur / n))
            estyle = primary if r.random() < 0.75 else estyles.pick(r)
            if estyle == "disposable":
                email = b.unique_email(r, idt.random_local(r), r.choice(disposable))
            elif estyle == "disposable_unlisted":
                email = b.unique_email(r, idt.random_local(r), r.choice(unlisted))
            elif estyle == "freemail_random":
                email = b.unique_email(r, idt.random_local(r),
                                       r.choice(("gmail.com", "outlook.com", "yahoo.com", "hotmail.com")))
            else:
                email = b.unique_email(r, f"{word}{seq + k}", pdomain)
            profile = {"id": b.new_account_id(), "email": email}
            if nstyle == "gibberish":
                profile["name"] = (r.letters(r.integers(4, 8)).capitalize() + " "
                                   + r.letters(r.integers(4, 9)).capitalize())
            elif nstyle == "plausible":
                profile["name"] = idt.person(r, r.choice(("US", "GB", "IN", "NG"))).full
            elif nstyle == "fixed":
                profile["name"] = fixed_name
            y = r.random()
            if y < 0.15:
                profile["phone"] = idt.voip_number(r)
            elif y < 0.25:
                profile["phone"] = r.choice(JUNK_PHONES)(r)
            elif y < 0.32:
                profile["phone"] = r.choice(self.sms_numbers(r, 5))
            c = declared if r.random() < 0.8 else r.choice(TARGET_COUNTRIES)
            if c is not None:
                profile["country"] = c
            if r.random() < 0.5:
                profile["org_type"] = r.choice(("individual", "individual", "startup"))
            pay = dict(r.choice(cards)) if r.random() < p_card else None
            dev = r.choice(devs)
            acct = self.fake_account(r, kind="bulk_farm", cid=cid, seg=variant, country=c or op, ts=t,
                                     profile=profile, devices=[dev], payment=pay, op=op)
            b.emit(t, "signup", acct, r.choice(ips), dev, fraud=True, campaign="bulk_farm", campaign_id=cid,
                   segment=variant, payment=pay)
            if r.random() < 0.35:
                self.fake_logins(r, acct, r.integers(1, 4), t, 6 * 3600,
                                 lambda: (r.choice(ips), r.choice(devs), None))
        self.record(cid, "bulk_farm", variant, t0, t0 + int(dur), n, ev0, op, [declared or op], q)

    # -- alias farm -------------------------------------------------------------------------------
    def alias_farm(self, r: Rand, cid: str, n: int) -> None:
        b, geo = self.b, self.geo
        ev0 = len(b.raw)
        q = r.uniform(0.3, 0.8)
        op = FARM_OPERATORS.pick(r)
        targets = r.sample(("US", "GB", "CA", "AU", "DE"), r.integers(1, 3))
        op_tz, op_langs = self.operator_locale(r, op)
        bases = []
        for _ in range(max(2, min(5, n // 8 + 1))):
            p = idt.person(r, targets[0])
            local = f"{idt.fold(p.first)}{idt.fold(p.last)}{1960 + r.integers(0, 45)}"
            bases.append((local, "gmail.com" if r.random() < 0.85 else "outlook.com", p))
        subnets = geo.resi_proxy_subnets(targets, pools=("PeerMesh", "HomeRoute", "GhostLine"), mobile=False)
        dur = r.uniform(1, 3) * 86400
        t0 = self.window(r, dur + 2 * 86400)
        numbers = self.sms_numbers(r, max(1, n // 4), targets[0])
        used: set[str] = set()
        for _ in range(n):
            t = t0 + int(r.random() * dur)
            local, domain, p = r.choice(bases)
            for _ in range(20):
                v = r.random()
                if domain == "gmail.com" and v < 0.4:
                    cand = f"{idt.gmail_dot_variant(r, local)}@gmail.com"
                elif v < 0.8:
                    cand = f"{local}+{r.choice(('a', 'b', 'x', 'promo', 'acc', 'k'))}{r.integers(1, 999)}@{domain}"
                elif domain == "gmail.com" and v < 0.9:
                    cand = f"{idt.gmail_dot_variant(r, local)}+{r.integers(1, 99)}@gmail.com"
                elif domain == "gmail.com":
                    cand = f"{idt.gmail_dot_variant(r, local)}@googlemail.com"
                else:
                    cand = f"{local.capitalize()}+{r.letters(3)}@{domain}"
                if cand.lower() not in used:
                    break
            used.add(cand.lower())
            b.claim_email(cand)
            sub = r.choice(subnets)
            target = sub.country
            person = idt.person(r, target) if r.random() < 0.7 else p
            profile = {"id": b.new_account_id(), "email": cand, "name": person.full}
            if r.random() < 0.4:
                profile["phone"] = r.choice(numbers)
            if r.random() < 0.85:
                profile["country"] = target
            if r.random() < 0.6:
                profile["org_type"] = "individual"
            match = r.random() < 0.6
            tz = sub.city.tz if match else op_tz
            langs = (COUNTRIES[target].locale_choice.pick(r) if match
                     else (("en-US", "en") if r.random() < 0.6 else op_langs))
            dev = idt.browser_device(r, "desktop", target, tz, langs,
                                     browser_kind=r.choice(("win_chrome", "win_chrome", "mac_chrome")),
                                     hw_label=f"noise:{r.hex(12)}")  # antidetect: randomised canvas/WebGL noise
            pay = idt.card(r, r.choice(("US", "GB")), funding="prepaid") if r.random() < 0.1 else None
            acct = self.fake_account(r, kind="alias_farm", cid=cid, seg="alias_farm", country=target, ts=t,
                                     profile=profile, devices=[dev], payment=pay, op=op)
            b.emit(t, "signup", acct, sub.host(r), dev, fraud=True, campaign="alias_farm", campaign_id=cid,
                   segment="alias_farm", payment=pay)
            if r.random() < 0.4:
                self.fake_logins(r, acct, r.integers(1, 3), t, 86400,
                                 lambda d=dev: (r.choice(subnets).host(r), d, None))
        self.record(cid, "alias_farm", "alias_farm", t0, t0 + int(dur), n, ev0, op, targets, q)

    # -- antidetect farm ---------------------------------------------------------------------------
    def antidetect_farm(self, r: Rand, cid: str, n: int) -> None:
        b, geo = self.b, self.geo
        ev0 = len(b.raw)
        q = r.uniform(0.2, 0.9)
        op = Weighted([("RU", 3), ("CN", 2), ("ID", 2), ("NG", 2), ("BR", 1), ("IN", 1), ("PL", 1)]).pick(r)
        targets = r.sample(TARGET_COUNTRIES, r.integers(1, 4))
        op_tz, op_langs = self.operator_locale(r, op)
        templates = []
        for j in range(r.integers(1, 4)):
            bk = "win_chrome" if r.random() < 0.7 else "mac_chrome"
            hw = bk.split("_")[0].replace("win", "windows")
            # careful operators copy popular real fingerprints, which real users share too
            label = f"{hw}:{r.integers(0, 4)}" if q > 0.5 else f"adprofile:{cid}:{j}"
            templates.append((bk, label, idt.ua_for(bk, r)[0]))
        mismatch_p = 0.85 - 0.6 * q
        subnets = geo.resi_proxy_subnets(targets)
        vbins = idt.VIRTUAL_BINS
        cards = []
        for _ in range(max(1, n // 2)):
            cc, funding, bin_ = r.choice(vbins)
            cards.append(idt.card(r, cc, funding=funding, bin_=bin_))
        p_card = 0.6
        shared_cards = r.random() < 0.6
        catchall = (f"{r.choice(('north', 'prime', 'mx', 'inbox', 'post'))}{r.choice(('mail', 'box', 'hub'))}"
                    f".{r.choice(('net', 'io', 'co'))}") if r.random() < 0.25 else None
        numbers = self.sms_numbers(r, max(1, n // 3), targets[0])
        dur = r.uniform(2, 6) * 86400
        t0 = self.window(r, dur + 3 * 86400)
        d0 = self.clock.day_of(t0)
        card_i = 0
        for _ in range(n):
            day = d0 + int(r.random() * dur / 86400)
            t = max(t0, self.clock.local_ts(r, day, op_tz, WORK_HOURS))
            sub = r.choice(subnets)
            target = sub.country
            p = idt.person(r, target)
            first, last = idt.fold(p.first), idt.fold(p.last)
            if catchall:
                email = b.unique_email(r, f"{first}.{last}", catchall)
            else:
                email = b.unique_email(r, f"{first}.{last}{r.integers(10, 99)}",
                                       r.choice(("outlook.com", "hotmail.com", "gmail.com", "yahoo.com")))
            profile = {"id": b.new_account_id(), "email": email, "name": p.full, "country": target}
            if r.random() < 0.5:
                profile["phone"] = r.choice(numbers)
            if r.random() < 0.7:
                profile["org_type"] = r.choice(("individual", "individual", "startup"))
            bk, label, ua = r.choice(templates)
            mism = r.random() < mismatch_p
            tz = op_tz if mism else sub.city.tz
            langs = op_langs if (mism and r.random() < 0.7) else COUNTRIES[target].locale_choice.pick(r)
            dev = idt.browser_device(r, "desktop", target, tz, langs, browser_kind=bk, hw_label=label)
            dev.user_agent = ua
            dev.omit, dev.nulls = frozenset(), frozenset()
            pay = None
            if r.random() < p_card:
                if shared_cards and r.random() < 0.5:
                    pay = dict(cards[card_i % len(cards)])
                    card_i += r.integers(0, 2)
                else:
                    cc, funding, bin_ = r.choice(vbins)
                    pay = idt.card(r, cc, funding=funding, bin_=bin_)
                pay["billing_country"] = target
            acct = self.fake_account(r, kind="antidetect_farm", cid=cid, seg="antidetect_farm", country=target,
                                     ts=t, profile=profile, devices=[dev], payment=pay, op=op)
            b.emit(t, "signup", acct, sub.host(r), dev, fraud=True, campaign="antidetect_farm", campaign_id=cid,
                   segment="antidetect_farm", payment=pay)
            if r.random() < 0.6:
                self.fake_logins(r, acct, r.integers(1, 5), t, 2 * 86400,
                                 lambda d=dev: (r.choice(subnets).host(r), d, None))
        self.record(cid, "antidetect_farm", "antidetect_farm", t0, t0 + int(dur), n, ev0, op, targets, q)

    # -- hydra (reseller networks) --------------------------------------------------------------------
    def hydra(self, r: Rand, cid: str, n: int) -> None:
        b, geo = self.b, self.geo
        ev0 = len(b.raw)
        q = r.uniform(0.5, 1.0)
        restricted = r.random() < 0.4
        if restricted:
            op = Weighted([("RU", 3), ("CN", 3), ("IR", 2), ("KP", 1)]).pick(r)
        else:
            op = r.choice(("NG", "ID", "IN", "BR", "PL"))
        variant = "hydra_restricted" if restricted else "hydra"
        targets = r.sample(("US", "GB", "CA", "AU", "DE", "FR", "NL", "SG", "JP", "KR"), r.integers(1, 3))
        op_tz, op_langs = self.operator_locale(r, op)
        numbers = self.sms_numbers(r, max(1, math.ceil(n / r.integers(3, 11))), targets[0])
        cards = [idt.card(r, targets[0] if r.random() < 0.6 else r.choice(TARGET_COUNTRIES),
                          funding="debit" if r.random() < 0.6 else "credit")
                 for _ in range(max(1, math.ceil(n / r.integers(3, 9))))]
        if restricted:
            exits = [geo.vpn_exit(r, r.choice(targets), provider=r.choice(("Kite VPN", "Shroud Networks")))
                     for _ in range(r.integers(2, 4))]
            leak_nets = geo.residential[op] + geo.mobile.get(op, [])
        else:
            # mobile proxies and the less-known residential pools: individually clean addresses
            pool = geo.resi_proxy_subnets(targets, pools=("MobiProx", "GhostLine", "HomeRoute"))
            exits = r.sample(pool, r.integers(2, 5))
            leak_nets = geo.mobile.get(op, []) + geo.residential[op]
        phones = []
        for j in range(r.integers(2, 5)):  # the operators' physical handsets
            phones.append(idt.browser_device(r, "phone", targets[0], op_tz, op_langs,
                                             hw_label=f"{'iphone' if j % 2 else 'android'}:{r.integers(0, 40)}"))
        batch = r.integers(5, 16)
        n_batches = max(1, math.ceil(n / batch))
        dur = r.uniform(2, 10) * 86400
        t0 = self.window(r, dur + 4 * 86400)
        starts = sorted(t0 + int(r.random() * dur) for _ in range(n_batches))
        careful = q
        prev: SimDevice | None = None

        def ip_now() -> str:
            if restricted and r.random() < 0.04:  # the VPN dropped: the operator's own address leaks
                return r.choice(leak_nets).address(r)
            return r.choice(exits).address(r) if exits[0].kind == "vpn" else r.choice(exits).host(r)

        k = 0
        for bs in starts:
            t = bs
            for _ in range(batch):
                if k >= n:
                    break
                t += int(r.uniform(60, 360))
                target = r.choice(targets)
                city = COUNTRIES[target].resident_cities.pick(r)
                p = idt.person(r, target)
                email = b.unique_email(r, idt.local_part(r, p), idt.free_domain(r, target))
                profile = {"id": b.new_account_id(), "email": email}
                if r.random() < 0.9:
                    profile["name"] = idt.display_name(r, p)
                if r.random() < 0.95:
                    profile["phone"] = idt.present_phone(r, numbers[k % len(numbers)], 0.05)
                if r.random() < 0.85:
                    profile["country"] = target
                if r.random() < 0.75:
                    profile["org_type"] = "individual"
                if prev is not None and r.random() < 0.2:
                    dev = prev
                else:
                    tmpl = r.choice(phones)
                    dev = tmpl.reset_id(r)
                    dev.timezone = city.tz if r.random() < careful else op_tz
                    dev.languages = COUNTRIES[target].locale_choice.pick(r) if r.random() < careful else op_langs
                prev = dev
                pay = dict(r.choice(cards)) if r.random() < 0.7 else None
                acct = self.fake_account(r, kind="hydra", cid=cid, seg=variant, country=target, ts=t,
                                         profile=profile, devices=[dev], payment=pay, op=op)
                b.emit(t, "signup", acct, ip_now(), dev, fraud=True, campaign="hydra", campaign_id=cid,
                       segment=variant, payment=pay)
                self.fake_logins(r, acct, r.integers(1, 5), t, 2 * 86400, lambda d=dev: (ip_now(), d, None))
                k += 1
        self.record(cid, "hydra", variant, t0, t0 + int(dur), k, ev0, op, targets, q)

    # -- account takeover ------------------------------------------------------------------------------
    def ato(self, r: Rand, cid: str, variant: str) -> None:
        b, geo = self.b, self.geo
        ev0 = len(b.raw)
        stuffing = variant == "ato_stuffing"
        dur = r.uniform(2, 12) * 3600 if stuffing else r.uniform(1, 5) * 86400
        t0 = self.window(r, dur, lo=0.3, hi=0.97)
        victims_pool = [a for a in self.legit if int(a.created_at.timestamp()) < t0 - 3600]
        if not victims_pool:
            return
        n = max(5, int(round(self.b.n_legit * r.uniform(0.008, 0.02)))) if stuffing else r.integers(3, 11)
        victims = r.sample(victims_pool, n)
        op = FARM_OPERATORS.pick(r)
        op_tz, op_langs = self.operator_locale(r, op)
        q = r.uniform(0.2, 0.6) if stuffing else r.uniform(0.5, 1.0)
        p_known = r.uniform(0.1, 0.3) if stuffing else 0.5
        scripted = stuffing and r.random() < 0.3
        resi = geo.resi_proxy_subnets()
        hosting = geo.all_hosting()
        for v in victims:
            t = t0 + int(r.random() * dur)
            vc = v.country
            infra: Callable[[], tuple[str, SimDevice]]
            if stuffing:
                def fresh_infra(vc: str = vc) -> tuple[str, SimDevice]:
                    if scripted:
                        dev = idt.script_device(r, "python-requests/2.32.3", with_id=False)
                    else:
                        dev = idt.browser_device(r, "desktop", vc, r.choice((op_tz, "UTC", COUNTRIES[vc].primary_tz)),
                                                 ("en-US", "en"), hw_label=f"noise:{r.hex(10)}")
                    if self.p.ato_local_tz_p > 0 and self.rv.random() < self.p.ato_local_tz_p:
                        dev.timezone = COUNTRIES[vc].primary_tz
                    ip = r.choice(resi).host(r) if r.random() < self.p.ato_resi_share else r.choice(hosting).host(r)
                    return ip, dev
                infra = fresh_infra
                attempts = r.integers(1, 4)
            else:
                x = r.random()
                if x < 0.4:
                    net: SimNetwork = geo.vpn_exit(r, r.choice(("US", "NL", "DE", "GB", "SG")))
                elif x < 0.7:
                    net = r.choice(hosting)
                else:  # careful: a residential proxy in the victim's own country
                    net = r.choice(geo.resi_proxy_subnets([vc]))
                    if self.p.ato_foreign_resi_p > 0 and self.rv.random() < self.p.ato_foreign_resi_p:
                        net = self.rv.choice([s for s in geo.resi_proxy_subnets() if s.country != vc])
                mism = r.random() > q
                dev0 = idt.browser_device(r, "desktop", vc, op_tz if mism else COUNTRIES[vc].primary_tz,
                                          op_langs if mism else COUNTRIES[vc].locale_choice.pick(r),
                                          browser_kind="win_chrome", hw_label=f"noise:{r.hex(10)}")

                def fixed_infra(net: SimNetwork = net, dev0: SimDevice = dev0) -> tuple[str, SimDevice]:
                    return net.host(r), dev0
                infra = fixed_infra
                attempts = r.integers(2, 7)
            knows = r.random() < p_known
            ip, dev = infra()
            for j in range(attempts):
                last = j == attempts - 1
                outcome = "success" if (last and knows) else "failure"
                b.emit(t, "login", v, ip, dev, fraud=True, campaign="ato", campaign_id=cid, segment=variant,
                       account_block=b.login_block(r, v), login=(outcome, "password"),
                       challenge=self.ato_challenge() if outcome == "success" else None)
                t += int(r.uniform(5, 90)) if stuffing else int(r.uniform(30, 1800))
                if stuffing:
                    ip, dev = infra()
            if knows and r.random() < 0.4:  # comes back to use the account
                for _ in range(r.integers(1, 3)):
                    t += int(r.uniform(1, 24) * 3600)
                    ip2, dev2 = (ip, dev) if not stuffing else infra()
                    b.emit(t, "login", v, ip2, dev2, fraud=True, campaign="ato", campaign_id=cid, segment=variant,
                           account_block=b.login_block(r, v), login=("success", "password"))
        self.record(cid, "ato", variant, t0, t0 + int(dur), len(victims), ev0, op,
                    sorted(set(v.country for v in victims)), q)

    def ato_challenge(self) -> str | None:
        """A takeover's successful login challenged: the attacker fails it or walks away."""
        if self.rc.random() >= self.p.challenge_ato_p:
            return None
        return "failed" if self.rc.random() < 0.6 else "abandoned"

    # -- password spray ----------------------------------------------------------------------------------
    def password_spray(self, r: Rand, cid: str) -> None:
        b, geo = self.b, self.geo
        ev0 = len(b.raw)
        rounds = r.integers(1, 3)
        gap = r.uniform(3, 12) * 3600
        n_target_frac = r.uniform(0.04, 0.1)
        t0 = self.window(r, 8 * 3600 + gap, lo=0.25, hi=0.97)
        pool = [a for a in self.legit if int(a.created_at.timestamp()) < t0 - 600]
        if not pool:
            return
        victims = r.sample(pool, max(20, int(round(self.b.n_legit * n_target_frac))))
        if r.random() < 0.7:
            region = r.choice(geo.all_hosting())
            base = region.host(r).rsplit(".", 1)[0]
            ips = [f"{base}.{r.integers(2, 254)}" for _ in range(r.integers(1, 5))]
        else:
            sub = r.choice(geo.resi_proxy_subnets())
            base = sub.host(r).rsplit(".", 1)[0]
            ips = [f"{base}.{r.integers(2, 254)}" for _ in range(r.integers(2, 9))]
        if r.random() < 0.6:
            ua = r.choice(idt.SCRIPT_UAS)
        else:
            ua = idt.ua_for("win_chrome", r)[0]
        with_device = r.random() < 0.3
        dev = idt.script_device(r, ua, with_id=True) if with_device else None
        op = FARM_OPERATORS.pick(r)
        t = t0
        for rd in range(rounds):
            t = t0 + int(rd * gap)
            order = list(victims)
            r.shuffle(order)
            for v in order:
                t += int(r.uniform(10, 90))
                outcome = "success" if r.random() < 0.004 else "failure"
                block = {"id": v.id}
                if v.profile.get("email"):
                    block["email"] = v.profile["email"]
                body = dev.body() if dev is not None else {"user_agent": ua}
                b.emit(t, "login", v, r.choice(ips), dev, fraud=True, campaign="password_spray", campaign_id=cid,
                       segment="password_spray", account_block=block, login=(outcome, "password"), device_body=body)
        self.record(cid, "password_spray", "password_spray", t0, t, len(victims), ev0, op,
                    sorted(set(v.country for v in victims)), 0.3)
