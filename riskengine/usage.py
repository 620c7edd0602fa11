"""POST /v1/usage: validate a batch, turn it into rows and account links, store it whole."""
from __future__ import annotations

import time

from pydantic import ValidationError

from . import storage
from .errors import ApiError, from_validation
from .hashing import Hasher
from .schemas import MAX_USAGE_RECORDS, UsageBatch
from .signals.ip import subnet_of

FUTURE_SLACK = 300.0


def parse_batch(raw: bytes) -> UsageBatch:
    """Parse and validate in one pass inside pydantic-core: a 10,000-record batch never
    becomes Python dicts first."""
    try:
        return UsageBatch.model_validate_json(raw)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise ApiError(400, f"body is not valid JSON: {first['msg']}") from None
        if first["type"] == "too_long" and tuple(first["loc"]) == ("records",):
            raise ApiError(413, f"at most {MAX_USAGE_RECORDS} records a call", field="records") from None
        if first["type"] == "model_type" and not first["loc"]:
            raise ApiError(422, "body must be a JSON object", field="body") from None
        raise from_validation(e) from None


def to_rows(batch: UsageBatch, hasher: Hasher, now: float | None = None) -> tuple[list[tuple], list[dict]]:
    """Rows for the usage table (tuples in storage.USAGE_COLUMNS order) and the
    (account, ip/subnet/device) links they imply, aggregated over the batch."""
    now = time.time() if now is None else now
    rows: list[tuple] = []
    seen: dict[tuple, list] = {}
    hashed: dict[tuple[str, str], str] = {}
    subnets: dict[str, str] = {}

    def h(kind: str, value: str) -> str:
        key = (kind, value)
        out = hashed.get(key)
        if out is None:
            out = hashed[key] = hasher(kind, value)
        return out

    def link(kind: str, value: str, account: str, first: float, last: float, n: int) -> None:
        s = seen.get((kind, value, account))
        if s is None:
            seen[(kind, value, account)] = [first, last, n]
        else:
            s[0], s[1], s[2] = min(s[0], first), max(s[1], last), s[2] + n

    # Per record only one aggregate update; hashing and link rows per distinct
    # (account, ip, device), which a batch has far fewer of than records.
    uses: dict[tuple, list] = {}
    for i, r in enumerate(batch.records):
        t = r.occurred_at.timestamp()
        if t > now + FUTURE_SLACK:
            raise ApiError(422, f"records[{i}].occurred_at is more than 5 minutes in the future",
                           field=f"records[{i}].occurred_at")
        device = h("device", r.device_id) if r.device_id else None
        fp = None
        if r.prompt_fingerprint is not None:
            fp = int(r.prompt_fingerprint, 16)
            fp = fp - (1 << 64) if fp >= 1 << 63 else fp      # stored as signed BIGINT
        rows.append((r.account_id, t, r.ip, device, r.api_key_id, r.model, r.requests, r.input_tokens,
                     r.output_tokens, fp, r.reasoning_requested))
        u = uses.get((r.account_id, r.ip, device))
        if u is None:
            uses[(r.account_id, r.ip, device)] = [t, t, r.requests]
        else:
            u[0], u[1], u[2] = min(u[0], t), max(u[1], t), u[2] + r.requests
    for (account, ip, device), (first, last, n) in uses.items():
        if device:
            link("device", device, account, first, last, n)
        if ip:
            subnet = subnets.get(ip)
            if subnet is None:
                subnet = subnets[ip] = subnet_of(ip)
            link("ip", h("ip", ip), account, first, last, n)
            link("subnet", h("subnet", subnet), account, first, last, n)
    links = [{"kind": k, "value": v, "account_id": a, "first": f, "last": la, "n": n}
             for (k, v, a), (f, la, n) in seen.items()]
    return rows, links


def ingest(db, batch: UsageBatch, hasher: Hasher) -> int:
    rows, links = to_rows(batch, hasher)
    with storage.writing(db, storage.BULK_WAIT_MS / 1000) as conn:
        storage.insert_usage(conn, rows, links)
    return len(rows)
