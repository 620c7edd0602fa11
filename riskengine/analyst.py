"""What an analyst does in the console, each action with its audit entry in the same
transaction: label accounts (the store of POST /v1/labels), put accounts on a list, edit
lists and restricted regions, publish or roll back a policy version, run a what-if.

Lists live in the policy, so every list change publishes a new policy version (author and
note), which every process picks up within seconds (policystore)."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from riskengine import storage
from riskengine.errors import InvalidInput
from riskengine.policystore import parse_version
from riskengine.runtime import Runtime
from riskengine.scoring import whatif
from riskengine.scoring.policy import LIST_FIELDS, REGION_SIGNALS, Policy, PolicyError
from riskengine.storage import console as reads
from riskengine.storage import policies
from riskengine.storage import users as audit_store
from riskengine.storage.rescore import account_profiles

LABELS = ("fraud", "legit")
LISTS = ("allow", "deny")


def label(runtime: Runtime, user: str, account_ids: list[str], value: str, note: str | None,
          action: str = "label") -> list[dict]:
    if value not in LABELS:
        raise InvalidInput("label: must be fraud or legit", field="label")
    note = (note or "").strip() or None
    if note and len(note) > 2000:
        raise InvalidInput("note: at most 2000 characters", field="note")
    now = time.time()
    stored = []
    with runtime.db.begin() as conn:
        for account_id in account_ids:
            if not storage.account_exists(conn, account_id):
                raise InvalidInput(f"account_id: no account {account_id!r}", field="account_id")
        for account_id in account_ids:
            before = reads.latest_label(conn, account_id) if len(account_ids) == 1 else None
            stored.append(storage.add_label(conn, account_id, value, "analyst", note, now))
            if len(account_ids) == 1:
                audit_store.audit(conn, now, user, action, account_id, {"label": before},
                                  {"label": value, "note": note})
        if len(account_ids) > 1:
            audit_store.audit(conn, now, user, action, f"{len(account_ids)} accounts",
                              None, {"label": value, "note": note, "accounts": account_ids})
    return stored


@dataclass
class Published:
    version_id: int
    policy: Policy


def current_body(runtime: Runtime) -> tuple[int | None, dict]:
    return runtime.policies.body()


def publish(runtime: Runtime, user: str, body: dict, note: str, action: str = "policy.publish",
            target: str = "policy") -> Published:
    """A new policy version from `body` (checked first: a PolicyError names the field)."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput("note: say why the policy changes", field="note")
    try:
        Policy.parse(body)
    except PolicyError as e:
        raise InvalidInput(f"policy: {e}", field="policy") from None
    now = time.time()
    old_id, old = runtime.policies.body()
    with runtime.db.begin() as conn:
        new_id = policies.add_policy_version(conn, body, user, note[:2000], now)
        audit_store.audit(conn, now, user, action, target, {"version": old_id, **_diff(old, body)[0]},
                          {"version": new_id, **_diff(old, body)[1]})
    runtime.policies.refresh()          # this process at once; the others within RECHECK_S
    return Published(new_id, parse_version(new_id, body))


def _diff(old: dict, new: dict) -> tuple[dict, dict]:
    """The top-level sections that differ, before and after (what the audit entry keeps)."""
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "version")
    return {k: old.get(k) for k in keys}, {k: new.get(k) for k in keys}


def put_on_list(runtime: Runtime, user: str, account_ids: list[str], which: str, note: str) -> Published:
    if which not in LISTS:
        raise InvalidInput("list: must be allow or deny", field="list")
    _, body = runtime.policies.body()
    section = body.setdefault(which, {})
    accounts = list(section.get("accounts", []))
    accounts += [a for a in account_ids if a not in accounts]
    section["accounts"] = accounts
    other = "deny" if which == "allow" else "allow"
    if other in body:
        body[other]["accounts"] = [a for a in body[other].get("accounts", []) if a not in account_ids]
    target = account_ids[0] if len(account_ids) == 1 else f"{len(account_ids)} accounts"
    return publish(runtime, user, body, note or f"{which} list: {target}", f"list.{which}", target)


def parse_list_form(form, body: dict) -> dict:
    """The lists and restricted regions as the console's form sends them (one value a line)
    over the current body."""
    body = copy.deepcopy(body)
    for which in LISTS:
        section = body.setdefault(which, {})
        for name in LIST_FIELDS:
            key = f"{which}.{name}"
            if key in form:
                section[name] = [v.strip() for v in form[key].splitlines() if v.strip()]
    if "restricted.countries" in form:
        regions = body.setdefault("restricted_regions", {})
        countries = [c.strip().upper() for c in form["restricted.countries"].replace(",", " ").split()]
        bad = [c for c in countries if len(c) != 2 or not c.isalpha()]
        if bad:
            raise InvalidInput(f"restricted.countries: not ISO country codes: {', '.join(bad)}",
                               field="restricted.countries")
        regions["countries"] = countries
        for signal in REGION_SIGNALS:
            if f"restricted.{signal}" in form:
                regions[signal] = form[f"restricted.{signal}"]
    return body


def rollback(runtime: Runtime, user: str, version_id: int, note: str) -> Published:
    with runtime.db.connect() as conn:
        row = policies.policy_version(conn, version_id)
    if row is None:
        raise InvalidInput(f"version: no policy version {version_id}", field="version")
    return publish(runtime, user, copy.deepcopy(row["body"]), note or f"rollback to version {version_id}",
                   "policy.rollback", f"version {version_id}")


def run_whatif(runtime: Runtime, user: str, body: dict, since: float, until: float) -> whatif.WhatIf:
    """Replay the period's stored assessments under the candidate `body` (nothing is published)."""
    if until <= since:
        raise InvalidInput("until: must be after since", field="until")
    try:
        candidate = Policy.parse({**body, "version": body.get("version", "candidate")})
    except PolicyError as e:
        raise InvalidInput(f"policy: {e}", field="policy") from None
    decide = whatif.model_decisions(runtime.model, candidate.thresholds) if runtime.model else None
    hashed = whatif.hashed_lists(candidate, runtime.hasher)
    with runtime.db.connect() as conn:
        labels = reads.all_latest_labels(conn)
        emails: dict = {}
        if candidate.allow.emails or candidate.deny.emails:
            emails = {r[0]: (r[1],) for r in account_profiles(conn)}
        replayer = whatif.Replayer(hashed, decide, emails)
        rows = reads.replay_rows(conn, since, until, replayer.response_paths, replayer.input_paths)
        result = whatif.replay(rows, replayer, labels)
    with runtime.db.begin() as conn:
        audit_store.audit(conn, time.time(), user, "whatif", "policy",
                          None, {"since": since, "until": until, "replayed": result.replayed,
                                 "changed": result.changed})
    return result
