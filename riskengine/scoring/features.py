"""Signals and history -> the model's feature vector. The online path (/v1/assess) and the
batch path (training replay, re-scoring) both build features here: a feature exists once.

A signal that could not be computed is NaN, which XGBoost treats as missing."""
from __future__ import annotations

from dataclasses import dataclass

from riskengine import quantities
from riskengine.scoring import baseline, schema
from riskengine.scoring.history import History
from riskengine.scoring.schema import ASSESS, SHARED_WINDOWS
from riskengine.signals import automation, device_token
from riskengine.signals.device import DeviceSignals
from riskengine.signals.email import EmailSignals
from riskengine.signals.ip import IPSignals
from riskengine.signals.payment import PaymentSignals
from riskengine.signals.phone import PhoneSignals

NAN = float("nan")


@dataclass(frozen=True, slots=True)
class Signals:
    email: EmailSignals | None
    phone: PhoneSignals | None
    ip: IPSignals | None
    device: DeviceSignals | None
    payment: PaymentSignals | None


def _b(value) -> float:
    return NAN if value is None else float(bool(value))


def _n(value) -> float:
    return NAN if value is None else float(value)


def _eq(a, b) -> float:
    return NAN if a is None or b is None else float(a == b)


def event_features(event: str, login_outcome: str | None, declared_country: str | None,
                   org_type: str | None) -> dict[str, float]:
    return {
        "event_login": float(event == "login"),
        "login_failure": NAN if login_outcome is None else float(login_outcome == "failure"),
        "declared_country_present": float(declared_country is not None),
        "org_individual": NAN if org_type is None else float(org_type == "individual"),
    }


def email_features(e: EmailSignals | None) -> dict[str, float]:
    if e is None:
        return {"email_present": 0.0}
    return {
        "email_present": 1.0, "email_valid": _b(e.valid), "email_disposable": _b(e.disposable),
        "email_free_provider": _b(e.free_provider), "email_alias_folded": _b(e.alias_folded),
        "email_local_length": _n(e.local_length), "email_local_digit_ratio": _n(e.local_digit_ratio),
        "email_local_entropy": _n(e.local_entropy), "email_local_random": _b(e.local_random),
        "email_domain_random": NAN if e.domain is None else _b(e.domain_random),
    }


def phone_features(p: PhoneSignals | None, ip: IPSignals | None, declared: str | None) -> dict[str, float]:
    if p is None:
        return {"phone_present": 0.0}
    ip_country = ip.country if ip else None
    return {
        "phone_present": 1.0, "phone_valid": _b(p.valid),
        "phone_voip": float(p.line_type == "voip"),
        "phone_mobile": float(p.line_type in ("mobile", "fixed_line_or_mobile")),
        "phone_country_matches_ip": _eq(p.country, ip_country),
        "phone_country_matches_declared": _eq(p.country, declared),
    }


def ip_features(ip: IPSignals | None, declared: str | None) -> dict[str, float]:
    if ip is None:
        return {}
    return {
        "ip_private": _b(ip.private), "ip_v6": float(ip.version == 6),
        "ip_anonymous": _b(ip.anonymous), "ip_vpn": _b(ip.vpn), "ip_hosting": _b(ip.hosting),
        "ip_tor": _b(ip.tor), "ip_residential_proxy": _b(ip.residential_proxy),
        "ip_public_proxy": _b(ip.public_proxy),
        "ip_country_matches_declared": _eq(ip.country, declared),
    }


def device_features(d: DeviceSignals | None) -> dict[str, float]:
    if d is None:
        return {"device_present": 0.0}
    return {
        "device_present": 1.0, "ua_missing": _b(d.ua_missing), "automation": _b(d.automation),
        "automation_webdriver": float(d.automation_kind == automation.WEBDRIVER),
        "automation_headless": float(d.automation_kind == automation.HEADLESS),
        "automation_script": float(d.automation_kind == automation.HTTP_LIBRARY),
        "automation_crawler": float(d.automation_kind in automation.DECLARED_BOT_KINDS),
        "automation_ai_agent": float(d.automation_kind == automation.AI_AGENT),
        "native_app": float(d.automation_kind == automation.NATIVE_APP),
        "timezone_matches_ip": _b(d.timezone_matches_ip), "language_matches_ip": _b(d.language_matches_ip),
        "timezone_valid": _b(d.timezone_valid), "languages_count": _n(d.languages_count),
        "device_token_valid": NAN if d.token is None else float(d.token == device_token.VALID),
        "bot_detected": _b(d.bot),
        "bot_headless": NAN if d.bot is None else float(d.bot_kind in device_token.HEADLESS_KINDS),
    }


def payment_features(p: PaymentSignals | None) -> dict[str, float]:
    if p is None:
        return {"payment_present": 0.0}
    return {
        "payment_present": 1.0, "payment_prepaid": _b(p.prepaid),
        "payment_issuer_billing_mismatch": _b(p.issuer_billing_mismatch),
        "payment_issuer_ip_mismatch": _b(p.issuer_ip_mismatch),
        "payment_billing_ip_mismatch": _b(p.billing_ip_mismatch),
    }


def history_features(h: History | None, ip: IPSignals | None, t: float) -> dict[str, float]:
    if h is None:
        return {}
    out: dict[str, float] = {}
    for kind, windows in SHARED_WINDOWS.items():
        counts = h.shared.get(kind)
        for w in windows:
            out[f"accounts_per_{kind}_{w}"] = NAN if counts is None else float(counts[w])
    out.update({
        "linked_accounts": float(h.linked_accounts),
        "signups_per_asn_1h": _n(h.signups_per_asn_1h),
        "signups_per_email_domain_1h": _n(h.signups_per_email_domain_1h),
        "signups_per_email_domain_24h": _n(h.signups_per_email_domain_24h),
        "email_domain_age_days": _n(h.email_domain_age_days),
        "failed_logins_account_1h": float(h.failed_logins_account_1h),
        "failed_logins_account_24h": float(h.failed_logins_account_24h),
        "failed_logins_ip_1h": float(h.failed_logins_ip_1h),
        "accounts_failed_from_ip_1h": float(h.accounts_failed_ip_1h),
        "account_known": float(h.account_known),
        "account_age_days": _n(h.account_age_days),
        "new_device": NAN if h.device_seen_before is None else float(not h.device_seen_before),
        "new_country": NAN if h.country_seen_before is None else float(not h.country_seen_before),
        "devices_per_account_30d": float(h.devices_30d),
        "countries_per_account_30d": float(h.countries_30d),
        "travel_kmh": _n(travel_kmh(h.previous_location, ip, t)),
    })
    return out


def travel_kmh(previous, ip: IPSignals | None, t: float) -> float | None:
    """Speed implied by the previous located event and this one (quantities.travel_kmh)."""
    if previous is None or ip is None or ip.latitude is None or ip.longitude is None:
        return None
    prev_t, lat, lon = previous
    return quantities.travel_kmh(lat, lon, prev_t, ip.latitude, ip.longitude, t, ip.accuracy_km)


def network_type_features(ip: IPSignals | None, h: History | None) -> dict[str, float]:
    """The kind of network (GeoIP2 Connection-Type / Enterprise) and sharing weighed by it:
    hundreds of accounts behind a carrier's /24 are normal, a dozen behind a server's are not."""
    if ip is None:
        return {}
    out: dict[str, float] = {}
    ct, ut = ip.connection_type, ip.user_type
    if ct is not None or ut is not None:
        kind = baseline.network_kind(ct, ut, ip.hosting)
        out.update({"ip_cellular": float(kind == "cellular"), "ip_corporate": float(kind == "corporate"),
                    "ip_residential_line": float(kind == "residential"),
                    "ip_user_hosting": float(ut in ("hosting", "content_delivery_network"))})
    else:
        kind = "hosting" if ip.hosting else "unknown"
    if ip.vpn:        # a VPN exit carries its subscribers: weigh its sharing as a VPN's
        kind = "vpn"
    counts = h.shared.get("subnet") if h is not None else None
    if counts is not None:
        out["subnet_sharing_excess"] = baseline.subnet_sharing_excess(float(counts["24h"]), kind)
    return out


def build_features(event: str, login_outcome: str | None, declared_country: str | None,
                   org_type: str | None, s: Signals, h: History | None, t: float,
                   baseline_values: dict[str, float] | None = None) -> dict[str, float]:
    """`baseline_values`: scoring.baseline.baseline_features of the event (None: no storage)."""
    out = event_features(event, login_outcome, declared_country, org_type)
    out.update(email_features(s.email))
    out.update(phone_features(s.phone, s.ip, declared_country))
    out.update(ip_features(s.ip, declared_country))
    out.update(device_features(s.device))
    out.update(payment_features(s.payment))
    out.update(history_features(h, s.ip, t))
    out.update(network_type_features(s.ip, h))
    if baseline_values:
        out.update(baseline_values)
        _familiarity_from_baseline(out, baseline_values)
    return out


def _familiarity_from_baseline(out: dict[str, float], base: dict[str, float]) -> None:
    """new_device and new_country say what the account's baseline says, where it has one:
    the links behind them count every event, also the failed attempts, the blocked logins
    and the ones whose challenge failed, so a thief's own tries made his device "seen"."""
    for name, known in (("new_device", "device_known_account"), ("new_country", "country_known_account")):
        value = base.get(known, NAN)
        if value == value and name in out:
            out[name] = 1.0 - value


# The model's feature order: the schema's, kept exactly (shipped models name theirs in meta.json).
FEATURES: list[str] = ASSESS.names


def vector(features: dict[str, float], names: list[str] = FEATURES) -> list[float]:
    return [features.get(n, NAN) for n in names]


def stored_features(features: dict[str, float]) -> dict:
    """What an assessment stores: the values of every declared feature (NaN as null) and
    the id of their layout, by which a reader aligns them by name to its own model."""
    current = schema.ASSESS        # looked up per call: a test may extend the schema
    return {"layout": current.layout, "values": [None if v != v else v for v in vector(features, current.names)]}
