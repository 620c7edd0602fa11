"""request -> signals -> link keys -> history -> features. Shared by /v1/assess, the training
replay and the re-scoring job, so every path sees the same features for the same event."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from riskengine import storage
from riskengine.hashing import Hasher
from riskengine.schemas import AssessRequest, DeviceIn
from riskengine.scoring import baseline
from riskengine.scoring.baseline import AccountBaseline, LoginEvent, NetworkRecent
from riskengine.scoring.features import Signals, build_features
from riskengine.scoring.history import History
from riskengine.signals import device_token
from riskengine.signals.device import device_signals
from riskengine.signals.device_token import TokenCheck
from riskengine.signals.email import email_signals
from riskengine.signals.ip import GeoIPReaders, ip_signals
from riskengine.signals.payment import payment_signals
from riskengine.signals.phone import phone_signals


@dataclass
class Observation:
    signals: Signals
    links: dict[str, str]          # link kind -> keyed hash (or plain value for non-PII kinds)
    history: History | None
    features: dict[str, float]
    deliverable: object = ...      # bool | None once checked; Ellipsis: not checked (off)
    context: ContextWrite | None = None   # the baseline rows to store with the event


@dataclass(frozen=True)
class ContextWrite:
    """What the account's baseline and the subnet's recent failures become with this event
    (storage.write_login_context): the baseline as read and the event, folded in when the
    event is stored, once its decision is known; network_data None: the subnet's row is
    unchanged."""
    account_id: str
    before: AccountBaseline | None
    event: LoginEvent
    network_key: str | None
    network_data: str | None

    def account_data(self, refused: bool = False) -> str:
        return baseline.advance(self.before, self.event, refused).dumps()


def verify_device_token(req: AssessRequest, key: bytes, now: float) -> tuple[AssessRequest, TokenCheck | None]:
    """The request as scored, and its device token's check (None: no token sent). A valid
    token's collected fields take precedence over the caller's `device` fields, so everything
    after this (signals, link keys, policy facts) sees what the collector saw. `now` is the
    server's clock live, the event's time in a replay."""
    d = req.device
    if d is None or d.token is None:
        return req, None
    check = device_token.verify(key, d.token, req.ip, now)
    if not check.valid:
        return req, check
    merged = {**d.model_dump(exclude_none=True), **device_token.device_fields(check.fields or {})}
    try:
        device = DeviceIn.model_validate(merged)
    except ValidationError:      # only a token issued by an older, looser engine could get here
        return req, device_token.TokenCheck(device_token.INVALID, problem="fields no longer valid")
    return req.model_copy(update={"device": device}), check


def compute_signals(req: AssessRequest, readers: GeoIPReaders | None, ip=None,
                    token: TokenCheck | None = None) -> Signals:
    """Pure signals; a GeoIP reader failure propagates (the caller decides degraded).
    `ip`: IP signals the caller already computed; `token`: verify_device_token's check."""
    ip = ip_signals(req.ip, readers) if ip is None else ip
    ip_country = ip.country
    d, p, a = req.device, req.payment, req.account
    return Signals(
        email=email_signals(a.email),
        phone=phone_signals(a.phone, a.country or ip_country),
        ip=ip,
        device=device_signals(d.user_agent, d.webdriver, d.timezone, d.languages, ip_country, token)
        if d else None,
        payment=payment_signals(p.fingerprint, p.bin, p.funding, p.country, p.billing_country, ip_country)
        if p else None,
    )


def link_keys(req: AssessRequest, s: Signals, hasher: Hasher) -> dict[str, str]:
    keys: dict[str, str] = {}
    d = req.device
    if d and d.id:
        keys["device"] = hasher("device", d.id)
    if d and d.components_hash:
        keys["components"] = hasher("components", d.components_hash)
    if s.payment and s.payment.fingerprint:
        keys["payment"] = hasher("payment", s.payment.fingerprint)
    if s.email and s.email.mailbox:
        keys["mailbox"] = hasher("mailbox", s.email.mailbox)
    if s.phone and s.phone.e164:
        keys["phone"] = hasher("phone", s.phone.e164)
    keys["ip"] = hasher("ip", req.ip)
    if s.ip is not None:
        keys["subnet"] = hasher("subnet", s.ip.subnet)
        if s.ip.country:
            keys["country"] = s.ip.country       # not PII: kept plain, used for "new country"
    return keys


def counted_email_domain(event: str, s: Signals) -> str | None:
    """The email domain whose signups history counts for this event: signups only (a login
    pays for no extra read), and never a free provider's (gmail's signups say nothing about
    one signup, and counting them would be the longest index range of all)."""
    e = s.email
    if event != "signup" or e is None or e.domain is None or e.free_provider:
        return None
    return e.domain


def login_event(req: AssessRequest, s: Signals, links: dict[str, str], t: float) -> LoginEvent:
    """What the account baseline compares and remembers of one event."""
    ip, d = s.ip, req.device
    subnet = baseline.short(links.get("subnet"))
    anonymizer = None
    if ip is not None and ip.anonymous is not None:
        anonymizer = bool(ip.anonymous or ip.vpn or ip.tor or ip.hosting or ip.residential_proxy or ip.public_proxy)
    return LoginEvent(
        t=t, login=req.event == "login",
        outcome=(req.login.outcome if req.login else "success") if req.event == "login" else None,
        account=_network_account_key(req.account.id, links.get("subnet")),
        device=baseline.short(links.get("device")), components=baseline.short(links.get("components")),
        ip=baseline.short(links.get("ip")), subnet=subnet, asn=ip.asn if ip else None,
        country=ip.country if ip else None, timezone=d.timezone if d else None,
        latitude=ip.latitude if ip else None, longitude=ip.longitude if ip else None,
        accuracy_km=ip.accuracy_km if ip else None, anonymizer=anonymizer)


def _network_account_key(account_id: str, subnet_key: str | None) -> str | None:
    """The account as the subnet's row counts it: keyed by the subnet's own keyed hash, so it
    tells accounts apart on that subnet and links nothing across subnets."""
    if subnet_key is None:
        return None
    return hashlib.blake2b(account_id.encode(), key=subnet_key.encode()[:64], digest_size=8).hexdigest()


def observe(conn: Connection | None, req: AssessRequest, s: Signals, links: dict[str, str], t: float) -> Observation:
    """History and the account baseline (when a connection is given) and features for one
    event as of time t."""
    h = None
    account_ctx: AccountBaseline | None = None
    network_ctx: NetworkRecent | None = None
    ev = login_event(req, s, links, t)
    if conn is not None:
        h = storage.read_history(
            conn, req.account.id, {k: v for k, v in links.items() if k in storage.LINK_KINDS}, t,
            ip=req.ip, asn=s.ip.asn if s.ip else None, device=links.get("device"), country=links.get("country"),
            email_domain=counted_email_domain(req.event, s))
        account_row, network_row = storage.read_login_context(conn, req.account.id, links.get("subnet"))
        account_ctx, network_ctx = AccountBaseline.loads(account_row), NetworkRecent.loads(network_row)
    login_outcome = req.login.outcome if (req.event == "login" and req.login) else None
    base = None if conn is None else baseline.baseline_features(account_ctx, network_ctx, ev)
    feats = build_features(req.event, login_outcome, req.account.country, req.account.org_type, s, h, t, base)
    context = None
    if conn is not None:
        after = baseline.advance_network(network_ctx, ev)
        context = ContextWrite(req.account.id, account_ctx, ev, links.get("subnet"),
                               None if after is None else after.dumps())
    return Observation(signals=s, links=links, history=h, features=feats, context=context)


def store_context(conn: Connection, obs: Observation, t: float, decision: str | None = None) -> None:
    """Write the baseline rows of the observation (with the event, same transaction). A
    blocked event teaches the baseline nothing: whoever sent it did not get in."""
    c = obs.context
    if c is not None:
        storage.write_login_context(conn, c.account_id, c.account_data(refused=decision == "block"), c.network_key,
                                    c.network_data, t)
