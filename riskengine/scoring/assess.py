"""One assessment: validate -> signals -> features -> model + rules -> decision -> store.

A failing dependency (database, GeoIP reader, model) never fails the call: the policy's
fail-open/fail-closed choice decides, and the answer says degraded: true."""
from __future__ import annotations

import ipaddress
import logging
import time

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from riskengine import storage
from riskengine.errors import Conflict, InvalidInput
from riskengine.ids import assessment_id
from riskengine.runtime import Runtime
from riskengine.schemas import AssessRequest
from riskengine.scoring import shown
from riskengine.scoring.features import stored_features, vector
from riskengine.scoring.pipeline import (
    Observation,
    compute_signals,
    link_keys,
    observe,
    store_context,
    verify_device_token,
)
from riskengine.scoring.policy import Facts
from riskengine.scoring.reasons import explain
from riskengine.signals.device_token import TokenCheck
from riskengine.signals.email import check_deliverability
from riskengine.signals.ip import ip_signals
from riskengine.signals.locale import timezone_countries

log = logging.getLogger(__name__)
FUTURE_SLACK = 300.0


def assess(runtime: Runtime, req: AssessRequest, request_hash: str, now: float | None = None,
           deadline: storage.Deadline | None = None) -> dict:
    """`deadline` bounds every database wait of the call (made from RISKENGINE_DB_TIMEOUT_MS
    now when not given): past it, the call decides degraded and stores nothing."""
    deadline = deadline or storage.Deadline.after_ms(runtime.config.db_timeout_ms)
    with storage.within(deadline):
        return _assess(runtime, req, request_hash, time.time() if now is None else now, deadline)


def _assess(runtime: Runtime, req: AssessRequest, request_hash: str, now: float,
            deadline: storage.Deadline) -> dict:
    t = req.occurred_at.timestamp() if req.occurred_at else now
    if t > now + FUTURE_SLACK:
        raise InvalidInput("occurred_at is more than 5 minutes in the future", field="occurred_at")
    failures: list[str] = []
    req, token = verify_device_token(req, runtime.token_key, now)
    signals = _signals(runtime, req, failures, token)
    links = link_keys(req, signals, runtime.hasher)
    stored, obs = _read(runtime, req, request_hash, signals, links, t, failures)
    if stored is not None:
        return stored
    assert obs is not None       # _read observes whenever it found no stored answer
    if req.event == "signup" and runtime.config.email_dns_timeout_ms > 0:
        obs.deliverable = _deliverable(runtime, signals)
    scored = _score(runtime, req, obs, failures)
    response, row = _decide(runtime, req, obs, t, now, failures, scored)
    row["request_hash"] = request_hash
    if "database" not in failures:
        try:
            _store(runtime, row, _account_fields(req, obs), links, deadline, obs, t)
        except IntegrityError:
            stored = _stored(runtime, req.event_id, request_hash, failures) if req.event_id else None
            if stored is not None:
                return stored        # a concurrent call with the same event_id won the race
            if "database" not in failures:
                raise
            # the twin's answer is stored but its look-up ran out of budget: answer degraded
            response, _ = _decide(runtime, req, obs, t, now, failures, scored)
        except SQLAlchemyError as e:
            log.warning("storing the assessment failed: %s", e)
            failures.append("database")
            response, _ = _decide(runtime, req, obs, t, now, failures, scored)
    return response


def _store(runtime: Runtime, row: dict, account: dict, links: dict[str, str], deadline: storage.Deadline,
           obs: Observation, t: float) -> None:
    """The assessment, its account and links and the account's baseline, durable (committed)
    before this returns."""
    with storage.writing(runtime.db, deadline) as conn:
        storage.record(conn, row, account, links)
        store_context(conn, obs, t, row["decision"])


def _read(runtime: Runtime, req, request_hash, signals, links, t,
          failures) -> tuple[dict | None, Observation | None]:
    """The stored answer for a repeated event_id, else the history: one connection."""
    try:
        with runtime.db.connect() as conn:
            if req.event_id:
                stored = _check_stored(storage.find_by_event_id(conn, req.event_id), req.event_id, request_hash)
                if stored is not None:
                    return stored, None
            return None, observe(conn, req, signals, links, t)
    except SQLAlchemyError as e:
        log.warning("history lookup failed: %s", e)
        failures.append("database")
    return None, observe(None, req, signals, links, t)


def _stored(runtime: Runtime, event_id: str, request_hash: str, failures: list[str]) -> dict | None:
    try:
        with runtime.db.connect() as conn:
            found = storage.find_by_event_id(conn, event_id)
    except SQLAlchemyError as e:
        log.warning("idempotency lookup failed: %s", e)
        failures.append("database")
        return None
    return _check_stored(found, event_id, request_hash)


def _check_stored(found, event_id: str, request_hash: str) -> dict | None:
    if found is None:
        return None
    if found.request_hash != request_hash:
        raise Conflict(f"event_id {event_id!r} was already used with a different body", field="event_id")
    return found.response


def _signals(runtime: Runtime, req: AssessRequest, failures: list[str], token: TokenCheck | None):
    readers = runtime.readers
    if runtime.geoip_error is not None:
        failures.append("geoip")
        readers = None
    try:
        ip = ip_signals(req.ip, readers)
    except Exception as e:   # only the reader's own failure (corrupt file, I/O) counts as degraded
        log.warning("GeoIP lookup failed: %s", e)
        failures.append("geoip")
        ip = ip_signals(req.ip, None)
    return compute_signals(req, readers, ip=ip, token=token)


def _deliverable(runtime: Runtime, signals) -> bool | None:
    """Optional MX check, bounded by its own budget; None when DNS did not answer in time."""
    if signals.email is None or not signals.email.valid or signals.email.domain is None:
        return None
    host, _, port = (runtime.config.email_dns_server or "").partition(":")
    return check_deliverability(
        f"x@{signals.email.domain}", runtime.config.email_dns_timeout_ms / 1000,
        nameservers=[host] if host else None, port=int(port or 53))


def _score(runtime: Runtime, req: AssessRequest, obs: Observation,
           failures: list[str]) -> tuple[float | None, list, str | None]:
    """The model's score, its reasons and the decision its thresholds give (None without a model)."""
    model = runtime.model
    if model is None:
        failures.append("model")
        return None, [], None
    scored = model.score_one(vector(obs.features, model.features))
    reasons = explain(scored.contributions, obs.signals, obs.history, obs.features)
    return round(scored.score, 6), reasons, model.decision(req.event, scored.score, runtime.policy.thresholds)


def _decide(runtime: Runtime, req: AssessRequest, obs: Observation, t: float, now: float,
            failures: list[str], scored: tuple) -> tuple[dict, dict]:
    """The answer and its row from `scored` (_score's): deciding again after a failed write
    does not pay for the model twice."""
    model, policy = runtime.model, runtime.policy
    score, reasons, model_decision = scored
    signals_out = signals_dict(obs)
    verdict = policy.decide(_facts(req, obs, signals_out), model_decision)
    reasons = verdict.reasons + token_reasons(obs.signals.device) + reasons
    if failures:
        verdict = policy.on_failure(req.event)
        reasons = [{"code": f"degraded.{f}", "message": f"{f} unavailable: decided by the {verdict.decided_by} policy",
                    "weight": 0.0} for f in sorted(set(failures))] + reasons
    verdict = policy.finalize(verdict)
    decision, monitored = verdict.decision, verdict.monitored
    asm = assessment_id(now)
    response = {
        "assessment_id": asm, "event": req.event, "account_id": req.account.id,
        "decision": decision, "score": score, "reasons": reasons,
        "challenge": policy.challenge_types(reasons) if decision == "challenge" else None,
        "signals": signals_out, "model_version": model.version if model else None,
        "policy_version": policy.version, "decided_by": verdict.decided_by,
        "monitored_decision": monitored, "degraded": bool(failures),
    }
    if response["challenge"] is None:
        del response["challenge"]
    ip = obs.signals.ip
    row = {
        "id": asm, "event_id": req.event_id, "request_hash": None, "account_id": req.account.id,
        "event": req.event, "occurred_ts": t, "created_ts": now, "ip": req.ip,
        "ip_country": ip.country if ip else None, "ip_asn": ip.asn if ip else None,
        "email_domain": obs.signals.email.domain if obs.signals.email else None,
        "latitude": ip.latitude if ip else None, "longitude": ip.longitude if ip else None,
        "login_outcome": req.login.outcome if req.login else None,
        "decision": decision, "monitored_decision": monitored, "score": score,
        "decided_by": verdict.decided_by, "model_version": response["model_version"],
        "policy_version": policy.version, "degraded": bool(failures),
        "features": stored_features(obs.features),
        "inputs": _inputs(req, obs), "response": response,
        **shown.columns(obs.signals.phone.e164 if obs.signals.phone else None, req.account.phone,
                        req.payment.last4 if req.payment else None,
                        obs.signals.payment.bin if obs.signals.payment else None),
    }
    return response, row


# Not model reasons (no feature speaks for them): said whenever the token is bad.
TOKEN_REASONS = {
    "invalid": {"code": "device.token_invalid", "weight": 0.0, "message": "Device token is invalid (forged, "
                "tampered, signed with another key, or used from another network than it was issued to)"},
    "expired": {"code": "device.token_expired", "weight": 0.0,
                "message": "Device token has expired (issued more than 15 minutes ago)"},
}


def token_reasons(device) -> list[dict]:
    """An invalid or expired device token is a reason, never an error (contract v1.1)."""
    found = TOKEN_REASONS.get(device.token) if device is not None and device.token else None
    return [] if found is None else [dict(found)]


def signals_dict(obs: Observation) -> dict:
    s, h = obs.signals, obs.history
    out = {name: (getattr(s, name).as_dict() if getattr(s, name) is not None else None)
           for name in ("email", "phone", "ip", "device", "payment")}
    if out["email"] is not None and obs.deliverable is not ...:
        out["email"]["deliverable"] = obs.deliverable
    if h is None:
        out["velocity"] = out["links"] = None
        return out
    velocity: dict = {kind: h.shared.get(kind) for kind in storage.LINK_KINDS}
    velocity.update({
        "signups_per_asn_1h": h.signups_per_asn_1h,
        "signups_per_email_domain_1h": h.signups_per_email_domain_1h,
        "signups_per_email_domain_24h": h.signups_per_email_domain_24h,
        "email_domain_age_days": _round(h.email_domain_age_days),
        "failed_logins_account_1h": h.failed_logins_account_1h,
        "failed_logins_account_24h": h.failed_logins_account_24h,
        "failed_logins_ip_1h": h.failed_logins_ip_1h,
        "accounts_failed_from_ip_1h": h.accounts_failed_ip_1h,
        "new_device": None if h.device_seen_before is None else not h.device_seen_before,
        "new_country": None if h.country_seen_before is None else not h.country_seen_before,
        "travel_kmh": _round(obs.features.get("travel_kmh")),
        "account_age_days": _round(h.account_age_days),
    })
    out["velocity"] = velocity
    out["links"] = {"linked_accounts": h.linked_accounts, "cluster_size": h.cluster_size}
    return out


def _round(v):
    return None if v is None or v != v else round(v, 2)


def _facts(req: AssessRequest, obs: Observation, signals_out: dict) -> Facts:
    s = obs.signals
    d, p = req.device, req.payment
    return Facts(
        event=req.event, account_id=req.account.id, email=req.account.email,
        domain=s.email.domain if s.email else None, ip=ipaddress.ip_address(req.ip),
        device_id=d.id if d else None, card_fingerprint=p.fingerprint if p else None,
        countries={
            "ip": _one(s.ip.country if s.ip else None), "declared": _one(req.account.country),
            "phone": _one(s.phone.country if s.phone else None),
            "card": _one(p.country if p else None), "billing": _one(p.billing_country if p else None),
            "timezone": timezone_countries(d.timezone if d else None, s.ip.country if s.ip else None),
        },
        signals=signals_out,
        rescore_decision=obs.history.rescore_decision if obs.history else None,
    )


def _one(country: str | None) -> frozenset[str]:
    return frozenset((country,)) if country else frozenset()


def _account_fields(req: AssessRequest, obs: Observation) -> dict:
    a = req.account
    return {"email": a.email, "email_domain": obs.signals.email.domain if obs.signals.email else None,
            "name": a.name, "country": a.country, "org_type": a.org_type}


def _inputs(req: AssessRequest, obs: Observation) -> dict:
    """What re-scoring needs later, with linking identifiers replaced by their keyed hashes."""
    body = req.model_dump(mode="json", exclude_none=True)
    body.pop("ip", None)       # in assessment.ip, where the retention job removes it
    account = body.get("account", {})
    account.pop("email", None)
    account.pop("phone", None)
    account.pop("name", None)
    (body.get("device") or {}).pop("id", None)
    (body.get("device") or {}).pop("components_hash", None)
    (body.get("device") or {}).pop("token", None)     # its verdict is in the stored signals
    (body.get("payment") or {}).pop("fingerprint", None)
    body["links"] = {k: v for k, v in obs.links.items()}
    return body
