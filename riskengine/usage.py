"""POST /v1/usage: validate a batch, turn it into rows and account links, store it whole."""
from __future__ import annotations

import time
from collections import defaultdict

from pydantic import ValidationError

from . import storage
from .errors import ApiError, from_validation
from .hashing import Hasher
from .schemas import MAX_USAGE_RECORDS, UsageBatch
from .signals.ip import ip_signals

FUTURE_SLACK = 300.0


def parse_batch(body: dict) -> UsageBatch:
    records = body.get("records")
    if isinstance(records, list) and len(records) > MAX_USAGE_RECORDS:
        raise ApiError(413, f"at most {MAX_USAGE_RECORDS} records a call, got {len(records)}", field="records")
    try:
        return UsageBatch.model_validate(body)
    except ValidationError as e:
        raise from_validation(e) from None


def to_rows(batch: UsageBatch, hasher: Hasher, now: float | None = None) -> tuple[list[dict], list[dict]]:
    """Rows for the usage table and the (account, ip/subnet/device) links they imply."""
    now = time.time() if now is None else now
    rows, seen = [], defaultdict(lambda: [float("inf"), float("-inf"), 0])
    hashed: dict[tuple[str, str], str] = {}

    def h(kind: str, value: str) -> str:
        key = (kind, value)
        if key not in hashed:
            hashed[key] = hasher(kind, value)
        return hashed[key]

    subnets: dict[str, str] = {}
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
        rows.append({"account_id": r.account_id, "occurred_ts": t, "ip": r.ip, "device": device,
                     "api_key_id": r.api_key_id, "model": r.model, "requests": r.requests,
                     "input_tokens": r.input_tokens, "output_tokens": r.output_tokens, "prompt_fp": fp,
                     "reasoning": r.reasoning_requested})
        keys = []
        if device:
            keys.append(("device", device))
        if r.ip:
            if r.ip not in subnets:
                subnets[r.ip] = ip_signals(r.ip, None).subnet
            keys += [("ip", h("ip", r.ip)), ("subnet", h("subnet", subnets[r.ip]))]
        for kind, value in keys:
            s = seen[(kind, value, r.account_id)]
            s[0], s[1], s[2] = min(s[0], t), max(s[1], t), s[2] + r.requests
    links = [{"kind": k, "value": v, "account_id": a, "first": f, "last": la, "n": n}
             for (k, v, a), (f, la, n) in seen.items()]
    return rows, links


def ingest(db, batch: UsageBatch, hasher: Hasher) -> int:
    rows, links = to_rows(batch, hasher)
    with db.begin() as conn:
        storage.insert_usage(conn, rows, links)
    return len(rows)
