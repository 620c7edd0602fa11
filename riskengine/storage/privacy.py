"""Retention of raw personal data and erasure of an account: the SQL behind riskengine.privacy.

Raw values (addresses, coordinates, user agents, card BIN/last4, the phone's and card's last
digits the console shows, emails, names) are nulled in
batches of `batch` rows, each batch its own short transaction, so a purge over millions of rows
never holds the write lock for long and a stopped purge resumes where it stopped. Keyed hashes
(entitylink.value, usagerecord.device, assessment.inputs.links) and the derived, non-identifying
values the features read (ip_country, ip_asn, features) are kept."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.engine import Connection

from riskengine.storage.tables import (
    Account,
    AccountContext,
    Assessment,
    ChallengeOutcome,
    EntityLink,
    Label,
    UsageRecord,
    table_of,
)

A, ACC, U = table_of(Assessment), table_of(Account), table_of(UsageRecord)

# Raw fields inside the stored request (assessment.inputs) and answer (assessment.response).
RAW_INPUT_FIELDS = {"": ("ip",), "device": ("user_agent", "languages", "screen"), "payment": ("bin", "last4")}
RAW_RESPONSE_IP_FIELDS = ("subnet", "latitude", "longitude", "accuracy_km")

Transaction = Callable[[], AbstractContextManager[Connection]]


def scrub_inputs(inputs: dict | None) -> dict | None:
    """The stored request without its raw fields (keyed hashes and coarse facts stay)."""
    if inputs is None:
        return None
    out = dict(inputs)
    for part, names in RAW_INPUT_FIELDS.items():
        target = out if not part else (dict(out[part]) if isinstance(out.get(part), dict) else None)
        if target is None:
            continue
        for name in names:
            target.pop(name, None)
        if part:
            out[part] = target
    return out


def scrub_response(response: dict) -> dict:
    out = dict(response)
    signals = dict(out.get("signals") or {})
    if isinstance(signals.get("ip"), dict):
        signals["ip"] = {k: v for k, v in signals["ip"].items() if k not in RAW_RESPONSE_IP_FIELDS}
        out["signals"] = signals
    return out


_RAW_ASSESSMENTS = (select(A.c.id, A.c.inputs, A.c.response)
                    .where(A.c.occurred_ts < bindparam("before"), A.c.ip.is_not(None))
                    .limit(bindparam("n")))


_SCRUB_ASSESSMENT = (update(A).where(A.c.id == bindparam("b_id"))
                     .values(ip=None, latitude=None, longitude=None, phone_last4=None, card_last4=None,
                             inputs=bindparam("b_inputs"), response=bindparam("b_response")))


def purge_assessments(begin: Transaction, before: float, batch: int) -> int:
    """Raw fields of assessments that occurred before `before`; the number of rows scrubbed.
    A scrubbed row has ip NULL (every assessment is stored with one), so a rerun skips it."""
    total = 0
    while True:
        with begin() as conn:
            rows = conn.execute(_RAW_ASSESSMENTS, {"before": before, "n": batch}).all()
            if rows:
                conn.execute(_SCRUB_ASSESSMENT, [
                    {"b_id": i, "b_inputs": scrub_inputs(inputs), "b_response": scrub_response(response)}
                    for i, inputs, response in rows])
        total += len(rows)
        if len(rows) < batch:
            return total


_NULL_USAGE_IPS = text(
    "UPDATE usagerecord SET ip = NULL WHERE id IN "
    "(SELECT id FROM usagerecord WHERE occurred_ts < :before AND ip IS NOT NULL LIMIT :n)")


_NULL_DORMANT_ACCOUNTS = text(
    "UPDATE account SET email = NULL, name = NULL WHERE id IN "
    "(SELECT id FROM account WHERE updated_ts < :before AND (email IS NOT NULL OR name IS NOT NULL) LIMIT :n)")


def purge_batched(begin: Transaction, statement, before: float, batch: int) -> int:
    total = 0
    while True:
        with begin() as conn:
            done = conn.execute(statement, {"before": before, "n": batch}).rowcount
        total += done
        if done < batch:
            return total


def purge_usage_ips(begin: Transaction, before: float, batch: int) -> int:
    return purge_batched(begin, _NULL_USAGE_IPS, before, batch)


def purge_dormant_accounts(begin: Transaction, before: float, batch: int) -> int:
    """Email and name of accounts with no event since `before` (a new event stores them again)."""
    return purge_batched(begin, _NULL_DORMANT_ACCOUNTS, before, batch)


def erase_account_rows(conn: Connection, account_id: str) -> dict[str, int] | None:
    """Every row of one account, in the caller's transaction: counts per table, None when the
    account was never seen (nothing deleted)."""
    if conn.execute(select(ACC.c.id).where(ACC.c.id == account_id)).first() is None:
        return None
    own = select(A.c.id).where(A.c.account_id == account_id).scalar_subquery()
    co = table_of(ChallengeOutcome)
    counts = {"challengeoutcome": conn.execute(delete(co).where(co.c.assessment_id.in_(own))).rowcount}
    for name, table in (("assessment", A), ("label", table_of(Label)), ("entitylink", table_of(EntityLink)),
                        ("usagerecord", U), ("accountcontext", table_of(AccountContext)), ("account", ACC)):
        counts[name] = conn.execute(delete(table).where(table.c.account_id == account_id
                                                        if name != "account" else table.c.id == account_id)).rowcount
    return counts
