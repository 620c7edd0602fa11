"""Every model feature and every reason code, declared once.

A feature says what it is (name, family, meaning), which reason code it speaks for and
when (`speaks_when`: a positive contribution from `email_valid == 1` is the model's
business, not a reason to show), and its monotone direction where known (+1: riskier
when larger, -1: riskier when smaller, None: neither or not known; declared only, no
model is trained with it yet).

The order of a schema is the model's feature order (`features.FEATURES`, the active
model's `ACTIVE_FEATURES`): the shipped models list their features by name in meta.json,
and these lists are theirs, so new features are appended, never inserted.

A reason's message is a `str.format` template over the explained event's values: its
features by name (the assess and active models alike) and, for the assess model, a few
named facts of its signals and history (`reasons.FACTS`). One code has one template,
wherever it appears. When a value the template names is absent (or NaN), `absent` is
shown instead.

`python -m riskengine.scoring.schema --markdown > docs/features.md` writes the table;
`--register` records the current feature lists as stored layouts (stored_layouts.py)."""
from __future__ import annotations

import argparse
import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from riskengine.quantities import NEW_ACCOUNT_DAYS
from riskengine.scoring import stored_layouts

_OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class When:
    """A condition on a feature's value: `value <op> threshold`."""
    op: str
    threshold: float

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}; known: {', '.join(_OPS)}")

    def __call__(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


IS_1, IS_0, POSITIVE = When("==", 1), When("==", 0), When(">", 0)


def at_least(n: float) -> When:
    return When(">=", n)


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    meaning: str
    reason: str | None = None          # the reason code it speaks for
    speaks_when: When | None = None    # ... when its value meets this
    monotone: int | None = None        # +1 riskier when larger, -1 riskier when smaller

    def __post_init__(self):
        if (self.reason is None) != (self.speaks_when is None):
            raise ValueError(f"{self.name}: a reason needs the condition it speaks under, and only a reason has one")
        if self.monotone not in (None, -1, 1):
            raise ValueError(f"{self.name}: monotone is +1, -1 or None, not {self.monotone!r}")


@dataclass(frozen=True)
class Schema:
    """One model's features, in the model's order."""
    model: str
    features: tuple[Feature, ...]

    def __post_init__(self):
        names = [f.name for f in self.features]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{self.model}: features declared twice: {', '.join(twice)}")

    @cached_property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @cached_property
    def _by_name(self) -> dict[str, Feature]:
        return {f.name: f for f in self.features}

    def get(self, name: str) -> Feature | None:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> Feature:
        return self._by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def family(self, family: str) -> list[str]:
        return [f.name for f in self.features if f.family == family]

    @cached_property
    def layout(self) -> str:
        """The id stored with each vector of this schema: model, length and a hash of the
        names in order. Equal lists get equal ids, so an id can never stand for two."""
        return layout_id(self.model, self.names)

    def appended(self, *features: Feature) -> Schema:
        """This schema with features added at the end (where new features go)."""
        return replace(self, features=self.features + tuple(features))


@dataclass(frozen=True)
class Reason:
    code: str
    message: str                 # str.format template over feature values and facts
    absent: str | None = None    # shown when a value the template names is absent; None: the code


def _flag(name, family, meaning, reason=None, when=None, monotone=None) -> Feature:
    """A 0/1 feature (NaN when its signal is unknown)."""
    return Feature(name, family, meaning, reason, when, monotone)


# --------------------------------------------------------------------------- assess model
# Accounts sharing one identifier with this event's account, per kind of identifier and
# window (the windows the model uses, not every window storage counts).
SHARED_WINDOWS: dict[str, tuple[str, ...]] = {
    "device": ("24h", "7d", "30d"), "components": ("24h", "7d", "30d"), "payment": ("7d", "30d"),
    "mailbox": ("30d",), "phone": ("7d", "30d"), "ip": ("1h", "24h", "7d"), "subnet": ("1h", "24h"),
}
SHARED_NOUNS = {"device": "Device", "components": "Hardware fingerprint", "payment": "Card",
                "mailbox": "Mailbox", "phone": "Phone number", "ip": "IP address", "subnet": "IP subnet"}
_WINDOW_WORDS = {"1h": "hour", "24h": "24 hours", "7d": "7 days", "30d": "30 days"}

# Account age speaks for account.new in both models: one quantity, one condition.
ACCOUNT_AGE = Feature("account_age_days", "account", "Days since the account's first event (NaN: none before)",
                      "account.new", When("<", NEW_ACCOUNT_DAYS), -1)

_EVENT = (
    Feature("event_login", "event", "1 for a login, 0 for a signup"),
    _flag("login_failure", "event", "The login attempt failed (NaN for signups)", "login.failure", IS_1, 1),
    Feature("declared_country_present", "event", "The account declares a country"),
    Feature("org_individual", "event", "The account is an individual, not an organisation (NaN: not said)"),
)
_EMAIL = (
    _flag("email_present", "email", "An email address was given", "email.missing", IS_0, -1),
    _flag("email_valid", "email", "The address passes syntax checks", "email.invalid", IS_0, -1),
    _flag("email_disposable", "email", "The domain is a disposable-mail provider", "email.disposable", IS_1, 1),
    _flag("email_free_provider", "email", "The domain is a free mail provider", "email.free_provider", IS_1, 1),
    _flag("email_alias_folded", "email", "The address is a tag, dot or subdomain variant of a mailbox, by the "
          "provider's documented rules (data/email_providers.toml)", "email.alias", IS_1, 1),
    Feature("email_local_length", "email", "Characters in the local part", "email.generated", at_least(20)),
    Feature("email_local_digit_ratio", "email", "Share of digits in the local part", "email.generated",
            at_least(0.3), 1),
    Feature("email_local_entropy", "email", "Shannon entropy of the local part (bits per character)",
            "email.generated", at_least(3.6), 1),
    _flag("email_local_random", "email", "The local part looks randomly generated", "email.generated", IS_1, 1),
)
# Appended after the history features (a schema's order is its models' order): signals that
# need no disposable list, for the throwaway domain that no list knows yet.
_EMAIL_DOMAIN = (
    _flag("email_domain_random", "email", "The domain's registrable label looks machine-minted",
          "email.domain_generated", IS_1, 1),
    Feature("signups_per_email_domain_1h", "velocity",
            "Signups with this email domain in the last hour (NaN: a free provider, a login, or no domain)",
            "email.domain_burst", at_least(5), 1),
    Feature("signups_per_email_domain_24h", "velocity",
            "Signups with this email domain in the last 24 hours (NaN as for the hour)",
            "email.domain_burst", at_least(20), 1),
    Feature("email_domain_age_days", "velocity",
            "Days since this engine first saw a signup with this email domain (NaN: never before, or as above)",
            "email.domain_new", When("<", 1), -1),
)
_PHONE = (
    _flag("phone_present", "phone", "A phone number was given", "phone.missing", IS_0, -1),
    _flag("phone_valid", "phone", "The number is a valid number for its country", "phone.invalid", IS_0, -1),
    _flag("phone_voip", "phone", "The line type is VoIP", "phone.voip", IS_1, 1),
    _flag("phone_mobile", "phone", "The line type is (or may be) mobile", "phone.not_mobile", IS_0, -1),
    _flag("phone_country_matches_ip", "phone", "The number's country is the IP's country (a number valid in "
          "the declared country is from there, also where the calling code is shared)",
          "phone.country_mismatch", IS_0, -1),
    _flag("phone_country_matches_declared", "phone", "The number's country is the declared country (a number "
          "valid there counts, also where the calling code is shared)", "phone.country_mismatch", IS_0, -1),
)
_IP = (
    _flag("ip_private", "ip", "The address is not globally reachable per the IANA special-purpose registries "
          "(private, shared, reserved...; a proxy hid the client)", "ip.private", IS_1, 1),
    Feature("ip_v6", "ip", "The address is IPv6"),
    _flag("ip_anonymous", "ip", "GeoIP flags the address as an anonymizer", "ip.anonymous", IS_1, 1),
    _flag("ip_vpn", "ip", "GeoIP flags the address as a VPN exit", "ip.vpn", IS_1, 1),
    _flag("ip_hosting", "ip", "The address belongs to a hosting provider", "ip.hosting_provider", IS_1, 1),
    _flag("ip_tor", "ip", "The address is a Tor exit node", "ip.tor", IS_1, 1),
    _flag("ip_residential_proxy", "ip", "The address is a residential proxy exit", "ip.residential_proxy",
          IS_1, 1),
    _flag("ip_public_proxy", "ip", "The address is a public proxy", "ip.public_proxy", IS_1, 1),
    _flag("ip_country_matches_declared", "ip", "The IP's country is the declared country", "ip.country_mismatch",
          IS_0, -1),
)
_DEVICE = (
    _flag("device_present", "device", "Device data was sent", "device.missing", IS_0, -1),
    _flag("ua_missing", "device", "No user agent was sent", "device.no_user_agent", IS_1, 1),
    _flag("automation", "device", "The client is automated (any kind)", "device.automation", IS_1, 1),
    _flag("automation_webdriver", "device", "The client reports navigator.webdriver", "device.automation",
          IS_1, 1),
    _flag("automation_headless", "device", "The user agent is a headless browser", "device.automation", IS_1, 1),
    _flag("automation_script", "device", "The user agent is an HTTP library or command-line client",
          "device.automation", IS_1, 1),
    _flag("timezone_matches_ip", "device", "The device's time zone is used in the IP's country or is a "
          "Windows default zone with its offsets (CLDR)",
          "device.timezone_mismatch", IS_0, -1),
    _flag("language_matches_ip", "device", "A device language names the IP's country or is official or "
          "spoken by >= 20% there (CLDR)",
          "device.language_mismatch", IS_0, -1),
    _flag("timezone_valid", "device", "The device's time zone is a known zone (any letter case)",
          "device.timezone_invalid", IS_0, -1),
    Feature("languages_count", "device", "Languages the device reports"),
)
_PAYMENT = (
    Feature("payment_present", "payment", "Payment data was sent"),
    _flag("payment_prepaid", "payment", "The card is prepaid", "payment.prepaid", IS_1, 1),
    _flag("payment_issuer_billing_mismatch", "payment", "Issuing and billing countries differ",
          "payment.country_mismatch", IS_1, 1),
    _flag("payment_issuer_ip_mismatch", "payment", "Issuing and IP countries differ", "payment.country_mismatch",
          IS_1, 1),
    _flag("payment_billing_ip_mismatch", "payment", "Billing and IP countries differ", "payment.country_mismatch",
          IS_1, 1),
)
_SHARING = tuple(
    Feature(f"accounts_per_{kind}_{w}", "sharing",
            f"Other accounts that used this {SHARED_NOUNS[kind].lower()} in the last {_WINDOW_WORDS[w]}",
            f"{kind}.shared", POSITIVE, 1)
    for kind, windows in SHARED_WINDOWS.items() for w in windows)
_HISTORY = (
    Feature("linked_accounts", "links",
            "Other accounts sharing a device id, card, mailbox or phone (30 days; not the hardware components hash)",
            "links.linked_accounts", POSITIVE, 1),
    Feature("signups_per_asn_1h", "velocity", "Signups from this network (ASN) in the last hour",
            "velocity.asn_signups", at_least(5), 1),
    Feature("failed_logins_account_1h", "login", "Failed logins on this account in the last hour",
            "login.failed_attempts", POSITIVE, 1),
    Feature("failed_logins_account_24h", "login", "Failed logins on this account in the last 24 hours",
            "login.failed_attempts", POSITIVE, 1),
    Feature("failed_logins_ip_1h", "login", "Failed logins from this IP in the last hour",
            "login.password_spray", at_least(3), 1),
    Feature("accounts_failed_from_ip_1h", "login", "Accounts with failed logins from this IP in the last hour",
            "login.password_spray", at_least(2), 1),
    _flag("account_known", "account", "The account had an event before this one", "account.new", IS_0, -1),
    ACCOUNT_AGE,
    _flag("new_device", "login", "The device never had an accepted event on this account (its baseline; without "
          "one, never seen in any event)", "login.new_device", IS_1, 1),
    _flag("new_country", "login", "The IP country never had an accepted event on this account (its baseline; "
          "without one, never seen in any event)", "login.new_country", IS_1, 1),
    Feature("devices_per_account_30d", "account", "Devices used on this account in 30 days",
            "account.many_devices", at_least(3), 1),
    Feature("countries_per_account_30d", "account", "Countries this account was used from in 30 days",
            "account.many_countries", at_least(2), 1),
    Feature("travel_kmh", "login", "Speed implied by the previous located event and this one (km/h)",
            "login.impossible_travel", at_least(900), 1),
)
# Added after the shipped models (signals.automation's kinds): appended, so older models keep their order.
_AUTOMATION_KINDS = (
    _flag("automation_crawler", "device", "The user agent is a declared bot (search engine, AI crawler, "
          "monitoring, scanner, other crawler)", "device.automation", IS_1, 1),
    _flag("automation_ai_agent", "device", "The user agent is an AI agent's browser or fetcher", "device.automation",
          IS_1, 1),
    _flag("native_app", "device", "The user agent is a native app's HTTP stack (okhttp, Dart, CFNetwork): "
          "not automation"),
)
# Added with the browser collector (signals.device_token): the signed token's state and the
# BotD verdict it carries. Only a valid token's verdict counts: a caller cannot send one.
_DEVICE_TOKEN = (
    Feature("device_token_valid", "device", "The collector's signed device token verified: 1 valid, 0 invalid "
            "or expired (NaN: no token sent)"),
    _flag("bot_detected", "device", "BotD, in the collector, found a bot: headless or driven browser, "
          "automation framework (NaN: no valid token)", "device.bot", IS_1, 1),
    _flag("bot_headless", "device", "BotD's bot kind is a headless browser (headless_chrome, phantomjs, "
          "slimerjs...) (NaN: no valid token)", "device.bot", IS_1, 1),
)
# The account's own baseline at login (scoring.baseline), and the kind of network (GeoIP2
# Connection-Type / Enterprise): appended. NaN where the account has no baseline yet, the
# event lacks the identifier, or no network-type database is configured.
_BASELINE = (
    Feature("baseline_successes", "baseline", "Successful events in the account's baseline (capped at 1,000)"),
    _flag("device_known_account", "baseline", "The device id had a successful event on this account before",
          "login.new_device", IS_0, -1),
    Feature("device_successes_account", "baseline", "Successful events from this device on this account "
            "(capped at 100)", None, None, -1),
    _flag("device_challenge_passed", "baseline", "A challenge was passed on this device for this account",
          None, None, -1),
    Feature("device_challenge_failed", "baseline", "Challenges failed or abandoned on this device for this account",
            "login.challenge_failed", POSITIVE, 1),
    _flag("remembered_device", "baseline", "A challenge was passed on this device from this subnet for this "
          "account (a remembered device)", None, None, -1),
    _flag("components_known_account", "baseline", "The hardware fingerprint was seen on this account before",
          None, None, -1),
    _flag("ip_known_account", "baseline", "The IP address was seen on this account before", None, None, -1),
    _flag("subnet_known_account", "baseline", "The IP subnet was seen on this account before", None, None, -1),
    _flag("asn_known_account", "baseline", "The network (ASN) was seen on this account before",
          "login.new_network", IS_0, -1),
    _flag("country_known_account", "baseline", "The IP country was seen on this account before", None, None, -1),
    _flag("timezone_known_account", "baseline", "The device time zone was seen on this account before",
          None, None, -1),
    _flag("first_anonymizer_use", "baseline", "An anonymizer or hosting address on an account that never used one",
          "login.first_anonymizer", IS_1, 1),
    Feature("hours_since_last_success", "baseline", "Hours since the account's last successful event"),
    Feature("km_from_last_success", "baseline", "Distance from the place of the last successful event (km)"),
    Feature("kmh_from_last_success", "baseline", "Speed implied by the last successful event and this one (km/h)",
            "login.impossible_travel", at_least(900), 1),
    Feature("hour_typicality", "baseline", "Share of the account's successful events within an hour of this "
            "hour of day (UTC; NaN below 5 events)", "login.unusual_hour", When("<", 0.02), -1),
    Feature("failures_other_networks_1h", "baseline", "Failed logins on this account from other subnets in the "
            "last hour", "login.credential_stuffing", POSITIVE, 1),
    Feature("failures_same_network_1h", "baseline", "Failed logins on this account from this subnet in the last "
            "hour"),
    Feature("subnet_failed_accounts_1h", "baseline", "Other accounts with failed logins from this subnet in the "
            "last hour", "login.spray_source", at_least(3), 1),
    Feature("subnet_failed_accounts_24h", "baseline", "Other accounts with failed logins from this subnet in the "
            "last 24 hours", "login.spray_source", at_least(5), 1),
)
_NETWORK_TYPE = (
    _flag("ip_cellular", "ip", "GeoIP2 Connection-Type or Enterprise says cellular"),
    _flag("ip_corporate", "ip", "GeoIP2 says a corporate, business, university or government network"),
    _flag("ip_residential_line", "ip", "GeoIP2 says a residential line (Cable/DSL, satellite, user type "
          "residential)"),
    _flag("ip_user_hosting", "ip", "GeoIP2 Enterprise's user type is hosting", "ip.hosting_provider", IS_1, 1),
    Feature("subnet_sharing_excess", "sharing", "log2 of (accounts on the subnet in 24 hours + 1) over (the usual "
            "number for its kind of network + 1): 200 on a cellular /24 is 0, 12 on a hosting /24 is +2.4, 12 on a VPN "
            "exit's is -1.7",
            "subnet.shared", at_least(2), 1),
)
# The account's own usual mismatch: a VPN user's exit abroad, an expat's laptop on home time.
_BASELINE_PAIRS = (
    _flag("timezone_country_known_account", "baseline", "This device time zone with this IP country was seen "
          "on this account before (a time zone that does not fit the country, but always has for this account)",
          None, None, -1),
)
ASSESS = Schema("assess", _EVENT + _EMAIL + _PHONE + _IP + _DEVICE + _PAYMENT + _SHARING + _HISTORY
                + _AUTOMATION_KINDS + _EMAIL_DOMAIN + _DEVICE_TOKEN + _BASELINE + _NETWORK_TYPE + _BASELINE_PAIRS)


# --------------------------------------------------------------------------- active model
_USAGE = (
    Feature("usage_records", "usage", "Usage records per day of the window"),
    Feature("usage_requests", "usage", "Requests per day of the window", "usage.volume", at_least(300)),
    Feature("usage_tokens", "usage", "Input + output tokens per day of the window"),
    Feature("usage_output_ratio", "usage", "Output tokens / input tokens", "usage.long_outputs", at_least(2)),
    Feature("usage_reasoning_share", "usage", "Share of requests asking the model to show its reasoning",
            "usage.reasoning_elicitation", at_least(0.5), 1),
    Feature("usage_hour_entropy", "usage", "Entropy of requests over the local hour of day (1: uniform)",
            "usage.around_the_clock", at_least(0.9), 1),
    Feature("usage_night_share", "usage", "Share of requests between 00:00 and 06:00 local time",
            "usage.night_activity", at_least(0.3), 1),
    Feature("usage_interarrival_cv", "usage", "Coefficient of variation of the gaps between records",
            "usage.machine_timing", When("<=", 0.5), -1),
    Feature("usage_active_days_share", "usage", "Share of the window's days with usage"),
    Feature("usage_distinct_ips", "usage", "Distinct IP addresses", "usage.many_ips", at_least(10), 1),
    Feature("usage_distinct_devices", "usage", "Distinct devices", None, None, 1),
    Feature("usage_distinct_countries", "usage", "Distinct IP countries", "usage.many_countries", at_least(3), 1),
    Feature("usage_distinct_asns", "usage", "Distinct networks (ASNs)", "usage.many_networks", at_least(5), 1),
    Feature("usage_anonymous_ip_share", "usage", "Share of requests from anonymizing IPs", "usage.anonymous_ips",
            at_least(0.3), 1),
    Feature("usage_hosting_ip_share", "usage", "Share of requests from hosting providers", "usage.hosting_ips",
            at_least(0.5), 1),
    Feature("usage_max_kmh", "usage", "Fastest travel between consecutive located records (km/h)",
            "usage.simultaneous_places", at_least(1000), 1),
    Feature("usage_fast_hops", "usage", "Consecutive located records implying more than 1,000 km/h",
            "usage.simultaneous_places", at_least(1), 1),
    Feature("usage_quota_use", "usage", "Busiest day's requests / the daily quota", "usage.quota_hugging",
            at_least(0.7), 1),
    Feature("usage_template_sharing", "usage", "Other accounts sending near-identical prompts",
            "usage.shared_templates", at_least(1), 1),
)
_CLUSTER = (
    Feature("cluster_size", "cluster", "Accounts in its cluster of linked accounts", "cluster.size", at_least(3), 1),
    Feature("cluster_blocked_others", "cluster", "Share of the cluster's other members currently blocked",
            "cluster.blocked_members", POSITIVE, 1),
    Feature("cluster_fraud_others", "cluster", "Other cluster members labelled fraud", "cluster.fraud_labels",
            at_least(1), 1),
    Feature("cluster_legit_others", "cluster", "Other cluster members labelled legitimate", None, None, -1),
    Feature("cluster_signup_burst", "cluster", "Share of the cluster's signups inside its busiest hour",
            "cluster.signup_burst", at_least(0.5), 1),
)
ACTIVE = Schema("active", (
    Feature("assess_score", "assess", "The assess model's score of the account's latest signup/login",
            "account.signup_risk", at_least(0.2), 1),
    ACCOUNT_AGE,
) + _USAGE + _CLUSTER)

SCHEMAS = (ASSESS, ACTIVE)


# --------------------------------------------------------------------------- stored layouts
# Stored feature vectors are {"layout": id, "values": [...]}: compact, and parsed as fast as
# a bare list, where {name: value} objects cost twice the parsing on the re-scoring path. The
# id names the feature list the values follow. The lists of every layout ever written are
# kept in scoring/stored_layouts.py (append-only, checked against their ids by the tests),
# so a reader aligns any stored vector by name, whatever its own model's order.
LAYOUTS_FILE = Path(__file__).with_name("stored_layouts.py")


def layout_id(model: str, names: list[str]) -> str:
    return f"{model}-{len(names)}-{hashlib.sha256(' '.join(names).encode()).hexdigest()[:12]}"


def layout_names(layout: str) -> list[str] | None:
    """The feature names of a stored layout; None when this riskengine does not know it."""
    for schema in (ASSESS, ACTIVE):       # the running schemas (module globals: tests may extend them)
        if schema.layout == layout:
            return schema.names
    names = stored_layouts.LAYOUTS.get(layout)
    return None if names is None else list(names)


def register_layouts() -> list[str]:
    """Add the current schemas' layouts to stored_layouts.py (new ones only); the ids added."""
    added = [s.layout for s in (ASSESS, ACTIVE) if s.layout not in stored_layouts.LAYOUTS]
    stored_layouts.LAYOUTS.update({s.layout: tuple(s.names) for s in (ASSESS, ACTIVE) if s.layout in added})
    entries = "".join(f"    {k!r}: (\n" + "".join(f"        {n!r},\n" for n in v) + "    ),\n"
                      for k, v in stored_layouts.LAYOUTS.items())
    LAYOUTS_FILE.write_text(f'''"""The feature lists of stored feature vectors, by layout id (schema.layout_id).

Generated by `python -m riskengine.scoring.schema --register`; append-only: rows stored with
a layout are read through it for as long as they exist."""

LAYOUTS: dict[str, tuple[str, ...]] = {{
{entries}}}
''')
    return added


# --------------------------------------------------------------------------- reasons
def _reasons(*rows: tuple) -> dict[str, Reason]:
    return {row[0]: Reason(*row) for row in rows}


REASONS: dict[str, Reason] = _reasons(
    ("email.invalid", "Email address fails syntax checks"),
    ("email.disposable", "Disposable email domain ({email_domain})"),
    ("email.alias", "Email is a dot/+tag variant of another mailbox"),
    ("email.generated", "Email local part looks generated ({email_local_length:.0f} chars, "
                        "{email_local_digits} digits)"),
    ("email.missing", "No email address given"),
    ("email.free_provider", "Free email provider ({email_domain})"),
    ("email.domain_generated", "Email domain looks machine-generated ({email_domain})"),
    ("email.domain_burst", "{signups_per_email_domain_1h:.0f} signups with {email_domain} in the last hour, "
                           "{signups_per_email_domain_24h:.0f} in 24 hours"),
    ("email.domain_new", "Email domain {email_domain} first seen here {email_domain_age_days:.1f} days ago"),
    ("phone.missing", "No phone number given"),
    ("phone.invalid", "Phone number is not a valid number"),
    ("phone.voip", "Phone number is VoIP ({phone_country})"),
    ("phone.not_mobile", "Phone line type is {phone_line_type}"),
    ("phone.country_mismatch", "Phone country {phone_country} differs from IP or declared country"),
    ("ip.anonymous", "IP is an anonymizer ({ip_org})"),
    ("ip.vpn", "IP is a VPN exit ({ip_org})"),
    ("ip.hosting_provider", "IP belongs to a hosting provider ({ip_org})"),
    ("ip.tor", "IP is a Tor exit node"),
    ("ip.residential_proxy", "IP is a residential proxy exit ({ip_org})"),
    ("ip.public_proxy", "IP is a public proxy"),
    ("ip.country_mismatch", "IP country {ip_country} differs from declared country"),
    ("ip.private", "IP is a private or reserved address"),
    ("device.no_user_agent", "No user agent sent"),
    ("device.automation", "Automated client ({automation_kind}: {browser})"),
    ("device.missing", "No device data sent"),
    ("device.bot", "The collector's bot detection flags the browser ({bot_kind})"),

    ("device.timezone_mismatch", "Device timezone does not fit IP country {ip_country}"),
    ("device.timezone_invalid", "Device reports an unknown timezone"),
    ("device.language_mismatch", "Device languages do not fit IP country {ip_country}"),
    ("payment.prepaid", "Card is prepaid"),
    ("payment.country_mismatch", "Card issued in {card_country}, billed to {billing_country}, used from "
                                 "{ip_country}"),
    *((f"{kind}.shared", f"{noun} seen on {{{kind}_shared_accounts}} other accounts in {{{kind}_shared_window}}")
      for kind, noun in SHARED_NOUNS.items()),
    ("links.linked_accounts", "Shares a device id, card, mailbox or phone with {linked_accounts:.0f} other accounts"),
    ("velocity.asn_signups", "{signups_per_asn_1h:.0f} signups from this network ({ip_org}) in the last hour"),
    ("login.failed_attempts", "{failed_logins_account_1h:.0f} failed logins on this account in 1 hour, "
                              "{failed_logins_account_24h:.0f} in 24 hours"),
    ("login.password_spray", "{failed_logins_ip_1h:.0f} failed logins from this IP in 1 hour across "
                             "{accounts_failed_from_ip_1h:.0f} accounts"),
    ("login.failure", "Login attempt failed"),
    ("login.new_device", "Login from a device never seen on this account"),
    ("login.new_country", "Login from a country never seen on this account ({ip_country})"),
    ("login.impossible_travel", "Travel from the previous login at {travel_kmh:.0f} km/h"),
    ("login.challenge_failed", "{device_challenge_failed:.0f} challenges failed or abandoned on this device"),
    ("login.new_network", "Login from a network (ASN) never seen on this account ({ip_org})"),
    ("login.first_anonymizer", "First use of an anonymizer or hosting address on this account ({ip_org})"),
    ("login.unusual_hour", "Unusual hour of day for this account"),
    ("login.credential_stuffing", "{failures_other_networks_1h:.0f} failed logins on this account from other "
                                  "networks in the last hour"),
    ("login.spray_source", "Failed logins on {subnet_failed_accounts_24h:.0f} other accounts from this subnet in "
                           "24 hours"),
    ("account.many_devices", "{devices_per_account_30d:.0f} devices used on this account in 30 days"),
    ("account.many_countries", "Used from {countries_per_account_30d:.0f} countries in 30 days"),
    # A first event has no age yet: the model's account_known == 0 speaks, the age is NaN.
    ("account.new", "Account is {account_age_days:.1f} days old", "Account is new (its first event)"),
    ("account.signup_risk", "Signup/login signals score {assess_score:.2f}"),
    ("usage.reasoning_elicitation", "Asks the model to show its reasoning in {usage_reasoning_share:.0%} of requests"),
    ("usage.night_activity", "{usage_night_share:.0%} of requests at night, local time"),
    ("usage.around_the_clock", "Active around the clock (hour entropy {usage_hour_entropy:.2f})"),
    ("usage.machine_timing", "Machine-regular request timing (CV {usage_interarrival_cv:.2f})"),
    ("usage.quota_hugging", "Runs at {usage_quota_use:.0%} of the daily quota"),
    ("usage.shared_templates", "Sends near-identical prompts to {usage_template_sharing:.0f} other accounts"),
    ("usage.many_ips", "Used from {usage_distinct_ips:.0f} IP addresses"),
    ("usage.many_networks", "Used from {usage_distinct_asns:.0f} networks"),
    ("usage.many_countries", "Used from {usage_distinct_countries:.0f} countries"),
    ("usage.anonymous_ips", "{usage_anonymous_ip_share:.0%} of requests via anonymizers"),
    ("usage.hosting_ips", "{usage_hosting_ip_share:.0%} of requests from hosting providers"),
    ("usage.simultaneous_places", "Used from distant places at once ({usage_max_kmh:.0f} km/h, "
                                  "{usage_fast_hops:.0f} hops)"),
    ("usage.long_outputs", "Outputs {usage_output_ratio:.1f}x longer than inputs"),
    ("usage.volume", "{usage_requests:.0f} requests a day"),
    ("cluster.size", "In a cluster of {cluster_size:.0f} linked accounts"),
    ("cluster.blocked_members", "{cluster_blocked_others:.0%} of its cluster is blocked"),
    ("cluster.fraud_labels", "{cluster_fraud_others:.0f} cluster members labelled fraud"),
    ("cluster.signup_burst", "{cluster_signup_burst:.0%} of its cluster signed up within an hour"),
)


# --------------------------------------------------------------------------- docs
def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _direction(monotone: int | None) -> str:
    return {1: "+1", -1: "-1"}.get(monotone, "") if monotone is not None else ""


def feature_rows(schema: Schema, names: list[str] | None = None) -> list[list[str]]:
    """Table rows (name, family, meaning, reason, speaks when, direction) for `names`, by
    default the schema's own; a name the schema no longer declares says so."""
    rows = []
    for name in schema.names if names is None else names:
        f = schema.get(name)
        if f is None:
            rows.append([f"`{name}`", "", "(not declared in this riskengine's schema)", "", "", ""])
            continue
        rows.append([f"`{f.name}`", f.family, _cell(f.meaning), f"`{f.reason}`" if f.reason else "",
                     _cell(f.speaks_when or ""), _direction(f.monotone)])
    return rows


FEATURE_HEAD = ["feature", "family", "meaning", "reason", "speaks when", "monotone"]


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown() -> str:
    speakers: dict[str, list[str]] = {code: [] for code in REASONS}
    for schema in SCHEMAS:
        for f in schema.features:
            if f.reason and f.name not in speakers[f.reason]:
                speakers[f.reason].append(f.name)
    reasons = [[f"`{r.code}`", _cell(r.message), _cell(r.absent or ""), ", ".join(f"`{n}`" for n in speakers[r.code])]
               for r in REASONS.values()]
    parts = ["# Model features and reason codes", "",
             "Generated from `riskengine/scoring/schema.py` by "
             "`python -m riskengine.scoring.schema --markdown > docs/features.md`; do not edit by hand.", "",
             "Monotone: +1 riskier when larger, -1 riskier when smaller (declared, not yet a training constraint). "
             "A feature speaks for its reason only when its value meets the condition and its contribution "
             "pushed the score up.", ""]
    for schema, title in ((ASSESS, "Signup/login model (`assess`)"), (ACTIVE, "Active-account model (`active`)")):
        parts += [f"## {title}: {len(schema.features)} features, in model order", "",
                  markdown_table(FEATURE_HEAD, feature_rows(schema)), ""]
    parts += ["## Reason codes", "",
              "Messages are templates over the event's feature values and, for signup/login, facts of its "
              "signals (`riskengine.scoring.reasons.FACTS`).", "",
              markdown_table(["code", "message", "when a value is absent", "spoken for by"], reasons), ""]
    return "\n".join(parts)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m riskengine.scoring.schema", description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the features and reasons as Markdown")
    parser.add_argument("--register", action="store_true",
                        help="add the current feature lists to stored_layouts.py (after adding a feature)")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(), end="")
    elif args.register:
        print("\n".join(register_layouts()) or "nothing new")
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
