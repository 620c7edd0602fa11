"""Stable reason codes and analyst-readable messages that carry the concrete values.

Model reasons come from per-prediction feature contributions: each feature belongs to one
reason code, a code's weight is the sum of its features' log-odds contributions, and only
codes that pushed the score up are shown, strongest first."""
from __future__ import annotations

from typing import Callable

from riskengine.scoring.features import Signals
from riskengine.scoring.history import History

# A feature speaks for its reason code only when its value points that way: a positive
# contribution from `email_valid == 1` is the model's business, not a reason to show.
def _is1(v): return v == 1
def _is0(v): return v == 0
def _pos(v): return v > 0
def _at_least(n): return lambda v: v >= n


FEATURE_CODES: dict[str, tuple[str, Callable[[float], bool]]] = {
    "email_valid": ("email.invalid", _is0), "email_disposable": ("email.disposable", _is1),
    "email_alias_folded": ("email.alias", _is1), "email_local_random": ("email.generated", _is1),
    "email_local_entropy": ("email.generated", _at_least(3.6)),
    "email_local_digit_ratio": ("email.generated", _at_least(0.3)),
    "email_local_length": ("email.generated", _at_least(20)), "email_present": ("email.missing", _is0),
    "email_free_provider": ("email.free_provider", _is1),
    "phone_present": ("phone.missing", _is0), "phone_valid": ("phone.invalid", _is0),
    "phone_voip": ("phone.voip", _is1), "phone_mobile": ("phone.not_mobile", _is0),
    "phone_country_matches_ip": ("phone.country_mismatch", _is0),
    "phone_country_matches_declared": ("phone.country_mismatch", _is0),
    "ip_anonymous": ("ip.anonymous", _is1), "ip_vpn": ("ip.vpn", _is1), "ip_hosting": ("ip.hosting_provider", _is1),
    "ip_tor": ("ip.tor", _is1), "ip_residential_proxy": ("ip.residential_proxy", _is1),
    "ip_public_proxy": ("ip.public_proxy", _is1), "ip_country_matches_declared": ("ip.country_mismatch", _is0),
    "ip_private": ("ip.private", _is1),
    "ua_missing": ("device.no_user_agent", _is1), "automation": ("device.automation", _is1),
    "automation_webdriver": ("device.automation", _is1), "automation_headless": ("device.automation", _is1),
    "automation_script": ("device.automation", _is1), "device_present": ("device.missing", _is0),
    "timezone_matches_ip": ("device.timezone_mismatch", _is0), "timezone_valid": ("device.timezone_invalid", _is0),
    "language_matches_ip": ("device.language_mismatch", _is0),
    "payment_prepaid": ("payment.prepaid", _is1),
    "payment_issuer_billing_mismatch": ("payment.country_mismatch", _is1),
    "payment_issuer_ip_mismatch": ("payment.country_mismatch", _is1),
    "payment_billing_ip_mismatch": ("payment.country_mismatch", _is1),
    "linked_accounts": ("links.linked_accounts", _pos),
    "signups_per_asn_1h": ("velocity.asn_signups", _at_least(5)),
    "failed_logins_account_1h": ("login.failed_attempts", _pos),
    "failed_logins_account_24h": ("login.failed_attempts", _pos),
    "failed_logins_ip_1h": ("login.password_spray", _at_least(3)),
    "accounts_failed_from_ip_1h": ("login.password_spray", _at_least(2)),
    "login_failure": ("login.failure", _is1), "new_device": ("login.new_device", _is1),
    "new_country": ("login.new_country", _is1), "travel_kmh": ("login.impossible_travel", _at_least(900)),
    "devices_per_account_30d": ("account.many_devices", _at_least(3)),
    "countries_per_account_30d": ("account.many_countries", _at_least(2)),
    "account_age_days": ("account.new", lambda v: v < 1), "account_known": ("account.new", _is0),
}
for _kind in ("device", "components", "payment", "mailbox", "phone", "ip", "subnet"):
    for _w in ("1h", "24h", "7d", "30d"):
        FEATURE_CODES[f"accounts_per_{_kind}_{_w}"] = (f"{_kind}.shared", _pos)

_SHARED_NOUN = {"device": "Device", "components": "Hardware fingerprint", "payment": "Card",
                "mailbox": "Mailbox", "phone": "Phone number", "ip": "IP address", "subnet": "IP subnet"}


def _shared_message(kind: str) -> Callable:
    def message(s: Signals, h: History | None, f: dict) -> str:
        counts = (h.shared.get(kind) if h else None) or {}
        window, n = max(((w, c) for w, c in counts.items() if c), key=lambda wc: wc[1], default=("30d", 0))
        return f"{_SHARED_NOUN[kind]} seen on {n} other accounts in {window.replace('h', ' hours').replace('d', ' days')}" \
            .replace("1 hours", "1 hour")
    return message


def _ip(s):
    return s.ip


MESSAGES: dict[str, Callable[[Signals, History | None, dict], str]] = {
    "email.invalid": lambda s, h, f: "Email address fails syntax checks",
    "email.disposable": lambda s, h, f: f"Disposable email domain ({s.email.domain})",
    "email.alias": lambda s, h, f: "Email is a dot/+tag variant of another mailbox",
    "email.generated": lambda s, h, f: (
        f"Email local part looks generated ({s.email.local_length} chars, {s.email.local_digits} digits)"),
    "email.missing": lambda s, h, f: "No email address given",
    "email.free_provider": lambda s, h, f: f"Free email provider ({s.email.domain})",
    "phone.missing": lambda s, h, f: "No phone number given",
    "phone.invalid": lambda s, h, f: "Phone number is not a valid number",
    "phone.voip": lambda s, h, f: f"Phone number is VoIP ({s.phone.country})",
    "phone.not_mobile": lambda s, h, f: f"Phone line type is {s.phone.line_type}",
    "phone.country_mismatch": lambda s, h, f: (
        f"Phone country {s.phone.country} differs from IP or declared country"),
    "ip.anonymous": lambda s, h, f: f"IP is an anonymizer ({_org(s)})",
    "ip.vpn": lambda s, h, f: f"IP is a VPN exit ({_org(s)})",
    "ip.hosting_provider": lambda s, h, f: f"IP belongs to a hosting provider ({_org(s)})",
    "ip.tor": lambda s, h, f: "IP is a Tor exit node",
    "ip.residential_proxy": lambda s, h, f: f"IP is a residential proxy exit ({_org(s)})",
    "ip.public_proxy": lambda s, h, f: "IP is a public proxy",
    "ip.country_mismatch": lambda s, h, f: f"IP country {s.ip.country} differs from declared country",
    "ip.private": lambda s, h, f: "IP is a private or reserved address",
    "device.no_user_agent": lambda s, h, f: "No user agent sent",
    "device.automation": lambda s, h, f: f"Automated client ({s.device.automation_kind}: {s.device.browser})",
    "device.missing": lambda s, h, f: "No device data sent",
    "device.timezone_mismatch": lambda s, h, f: f"Device timezone does not fit IP country {_country(s)}",
    "device.timezone_invalid": lambda s, h, f: "Device reports an unknown timezone",
    "device.language_mismatch": lambda s, h, f: f"Device languages do not fit IP country {_country(s)}",
    "payment.prepaid": lambda s, h, f: "Card is prepaid",
    "payment.country_mismatch": lambda s, h, f: (
        f"Card issued in {s.payment.issuing_country}, billed to {s.payment.billing_country}, "
        f"used from {_country(s)}"),
    "links.linked_accounts": lambda s, h, f: f"Shares a device, card, mailbox or phone with {h.linked_accounts} other accounts",
    "velocity.asn_signups": lambda s, h, f: f"{h.signups_per_asn_1h} signups from this network ({_org(s)}) in the last hour",
    "login.failed_attempts": lambda s, h, f: (
        f"{h.failed_logins_account_1h} failed logins on this account in 1 hour, {h.failed_logins_account_24h} in 24 hours"),
    "login.password_spray": lambda s, h, f: (
        f"{h.failed_logins_ip_1h} failed logins from this IP in 1 hour across {h.accounts_failed_ip_1h} accounts"),
    "login.failure": lambda s, h, f: "Login attempt failed",
    "login.new_device": lambda s, h, f: "Login from a device never seen on this account",
    "login.new_country": lambda s, h, f: f"Login from a country never seen on this account ({_country(s)})",
    "login.impossible_travel": lambda s, h, f: f"Travel from the previous login at {f.get('travel_kmh', 0):.0f} km/h",
    "account.many_devices": lambda s, h, f: f"{h.devices_30d} devices used on this account in 30 days",
    "account.many_countries": lambda s, h, f: f"Used from {h.countries_30d} countries in 30 days",
    "account.new": lambda s, h, f: "Account is new",
}
for _kind in _SHARED_NOUN:
    MESSAGES[f"{_kind}.shared"] = _shared_message(_kind)


def _org(s: Signals) -> str:
    ip = s.ip
    if ip is None or ip.asn is None:
        return "unknown network"
    return f"AS{ip.asn}" + (f" {ip.as_org}" if ip.as_org else "")


def _country(s: Signals) -> str:
    return (s.ip.country if s.ip else None) or "unknown"


def model_reasons(contributions: dict[str, float], s: Signals, h: History | None, features: dict,
                  limit: int = 6, floor: float = 0.05) -> list[dict]:
    by_code: dict[str, float] = {}
    for feature, value in contributions.items():
        entry = FEATURE_CODES.get(feature)
        x = features.get(feature)
        if entry is not None and x is not None and x == x and entry[1](x):
            by_code[entry[0]] = by_code.get(entry[0], 0.0) + value
    ranked = sorted(((c, w) for c, w in by_code.items() if w >= floor), key=lambda cw: -cw[1])[:limit]
    out = []
    for code, weight in ranked:
        try:
            message = MESSAGES[code](s, h, features)
        except (AttributeError, TypeError):   # a value the message names is absent
            message = code
        out.append({"code": code, "message": message, "weight": round(weight, 3)})
    return out


def _facts(s: Signals) -> list[str]:
    """Suspicious facts shown even when the model gave them little weight: the contract
    promises that content which is merely suspicious is reported as a reason."""
    facts = []
    if s.email is not None and not s.email.valid:
        facts.append("email.invalid")
    if s.email is not None and s.email.disposable:
        facts.append("email.disposable")
    if s.phone is not None and not s.phone.valid:
        facts.append("phone.invalid")
    if s.device is not None and s.device.ua_missing:
        facts.append("device.no_user_agent")
    if s.device is not None and s.device.automation:
        facts.append("device.automation")
    if s.ip is not None and s.ip.tor:
        facts.append("ip.tor")
    return facts


def explain(contributions: dict[str, float], s: Signals, h: History | None, features: dict,
            limit: int = 6) -> list[dict]:
    reasons = model_reasons(contributions, s, h, features, limit=limit)
    shown = {r["code"] for r in reasons}
    weights: dict[str, float] = {}
    for feature, value in contributions.items():
        entry = FEATURE_CODES.get(feature)
        if entry:
            weights[entry[0]] = weights.get(entry[0], 0.0) + value
    for code in _facts(s):
        if code not in shown:
            reasons.append({"code": code, "message": MESSAGES[code](s, h, features),
                            "weight": round(max(weights.get(code, 0.0), 0.0), 3)})
            shown.add(code)
    return sorted(reasons, key=lambda r: -r["weight"])
