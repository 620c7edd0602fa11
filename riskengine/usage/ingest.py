"""POST /v1/usage: decode and validate a batch, turn it into rows and account links, store it whole.

The batch schema is a msgspec Struct, not a pydantic model like the other bodies: a batch is
10,000 records, and msgspec decodes and validates one in about a fifth of pydantic's time,
without building Python dicts first (scripts/bench_ingest.py shows the split)."""
from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import datetime
from typing import Annotated, NamedTuple

import msgspec
from msgspec import Meta
from sqlalchemy.exc import SQLAlchemyError

from riskengine import storage
from riskengine.errors import Conflict, InvalidInput, MalformedBody, RiskengineError, TooLarge
from riskengine.hashing import Hasher
from riskengine.schemas import canonical_ip
from riskengine.usage.links import LinkFolder, pack

log = logging.getLogger(__name__)

FUTURE_SLACK = 300.0
MAX_USAGE_RECORDS = 10_000


class UsageRecordIn(msgspec.Struct, forbid_unknown_fields=False):
    account_id: Annotated[str, Meta(min_length=1, max_length=128)]
    occurred_at: Annotated[datetime, Meta(tz=True)]
    ip: Annotated[str, Meta(max_length=64)] | None = None
    device_id: Annotated[str, Meta(max_length=256)] | None = None
    api_key_id: Annotated[str, Meta(max_length=128)] | None = None
    model: Annotated[str, Meta(max_length=128)] | None = None
    requests: Annotated[int, Meta(ge=1, le=10_000_000)] = 1
    input_tokens: Annotated[int, Meta(ge=0, le=10**12)] | None = None
    output_tokens: Annotated[int, Meta(ge=0, le=10**12)] | None = None
    prompt_fingerprint: Annotated[str, Meta(pattern=r"^[0-9a-fA-F]{16}$")] | None = None
    reasoning_requested: bool | None = None


class UsageBatch(msgspec.Struct, forbid_unknown_fields=False):
    records: Annotated[list[UsageRecordIn], Meta(min_length=1, max_length=MAX_USAGE_RECORDS)]
    # The same id with the same body is answered from the first call, never stored twice.
    batch_id: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


class Ingested(NamedTuple):
    accepted: int
    duplicate: bool


class _AlreadyStored(Exception):
    """A twin of this batch committed first: roll this one back."""


# strict=False: the same lax coercions the pydantic bodies allow ("5" and 5.0 for 5).
_DECODER = msgspec.json.Decoder(UsageBatch, strict=False)
_AT = re.compile(r"^(?P<msg>.*) - at `\$(?P<path>[^`]*)`$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


def parse_batch(raw: bytes) -> UsageBatch:
    """A request body as a validated batch, or the domain error that names what is wrong."""
    try:
        batch = _DECODER.decode(raw)
    except msgspec.ValidationError as e:
        raise _named(str(e)) from None
    except msgspec.DecodeError as e:
        raise MalformedBody(f"body is not valid JSON: {e}") from None
    except RecursionError:        # msgspec skips an unknown member recursively: about 1,000 levels
        raise MalformedBody("body is nested too deeply") from None
    if batch.batch_id is not None and "\x00" in batch.batch_id:
        raise InvalidInput("batch_id must not contain NUL (\\u0000) characters", field="batch_id")
    if b"\\u0000" in raw:      # JSON can carry a NUL only escaped: one scan of the body spares a check per field
        _refuse_nul(batch)
    return batch


def batch_of(records: list[dict]) -> UsageBatch:
    """The same validation for records already in Python (training, benchmarks)."""
    try:
        batch = msgspec.convert({"records": records}, UsageBatch, strict=False)
    except msgspec.ValidationError as e:
        raise _named(str(e)) from None
    _refuse_nul(batch)
    return batch


def _refuse_nul(batch: UsageBatch) -> None:
    # PostgreSQL text cannot hold NUL; no real identifier contains one.
    for i, r in enumerate(batch.records):
        for name in ("account_id", "ip", "device_id", "api_key_id", "model"):
            value = getattr(r, name)
            if value is not None and "\x00" in value:
                raise _bad(i, name, "must not contain NUL (\\u0000) characters")


def _named(message: str) -> RiskengineError:
    m = _AT.match(message)
    msg, field = (m["msg"], m["path"].lstrip(".")) if m else (message, "")
    missing = _MISSING.match(msg)
    if missing:
        field = f"{field}.{missing['name']}" if field else missing["name"]
        return InvalidInput(f"{field} is required", field=field)
    if not field:
        return InvalidInput("body must be a JSON object with a `records` array", field="body")
    if field == "records" and "length <=" in msg:
        return TooLarge(f"at most {MAX_USAGE_RECORDS} records a call", field="records")
    return InvalidInput(f"{field}: {msg}", field=field)


def _bad(i: int, name: str, why: str) -> InvalidInput:
    return InvalidInput(f"records[{i}].{name} {why}", field=f"records[{i}].{name}")


def to_rows(batch: UsageBatch, hasher: Hasher, now: float | None = None) -> tuple[list[tuple], list[tuple]]:
    """Rows for the usage table (tuples in storage.USAGE_COLUMNS order) and the batch's uses:
    (account, ip, device, first, last) per distinct (account, ip, device), from which
    links_of() derives the account links."""
    latest = (time.time() if now is None else now) + FUTURE_SLACK
    rows: list[tuple] = []
    ips: dict[str, str] = hasher.memo("usage ip")          # raw -> canonical (not hashed)
    devices: dict[str, str | None] = hasher.memo("usage device")   # raw -> hashed
    # Per record one aggregate update; hashing and link rows per distinct
    # (account, ip, device), which a batch has far fewer of than records. Text is stripped
    # as the other bodies strip it: an id is the same id in every route.
    uses: dict[tuple, list] = {}
    for i, r in enumerate(batch.records):
        t = r.occurred_at.timestamp()
        if t > latest:
            raise _bad(i, "occurred_at", "is more than 5 minutes in the future")
        account = r.account_id.strip()
        if not account:
            raise _bad(i, "account_id", "must not be empty")
        ip = r.ip
        if ip is not None:
            ip = ips[ip] if ip in ips else _ip(i, ip, ips)
        device = r.device_id
        if device is not None:
            device = devices[device] if device in devices else _device(device, devices, hasher)
        key, model, hex_fp = r.api_key_id, r.model, r.prompt_fingerprint
        fp = None
        if hex_fp is not None:
            fp = int(hex_fp, 16)
            fp = fp - (1 << 64) if fp >= 1 << 63 else fp      # stored as signed BIGINT
        rows.append((account, t, ip, device, key.strip() if key else key, model.strip() if model else model,
                     r.requests, r.input_tokens, r.output_tokens, fp, r.reasoning_requested))
        u = uses.get((account, ip, device))
        if u is None:
            uses[(account, ip, device)] = [t, t]
        elif t < u[0]:
            u[0] = t
        elif t > u[1]:
            u[1] = t
    return rows, [(a, ip, d, f, la) for (a, ip, d), (f, la) in uses.items()]


def _device(raw: str, seen: dict[str, str | None], hasher: Hasher) -> str | None:
    value = raw.strip()
    seen[raw] = hasher("device", value) if value else None
    return seen[raw]


def _ip(i: int, raw: str, seen: dict[str, str]) -> str:
    try:
        seen[raw] = canonical_ip(raw.strip())
    except ValueError:
        raise _bad(i, "ip", "is not an IPv4 or IPv6 address") from None
    return seen[raw]


def ingest(db, batch: UsageBatch, hasher: Hasher, folder: LinkFolder | None = None, fold_after: int = 1,
           now: float | None = None) -> int:
    """Store a batch whole (see ingest_once); the number of records accepted."""
    return ingest_once(db, batch, hasher, folder, fold_after, now).accepted


def body_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def ingest_once(db, batch: UsageBatch, hasher: Hasher, folder: LinkFolder | None = None, fold_after: int = 1,
                now: float | None = None, body_hash: str = "") -> Ingested:
    """Store a batch whole. With a batch_id, at most once: the batch row commits with the records,
    and a retry with the same `body_hash` gets the first result (Conflict for another body).
    Its links wait for the workers' folder (usage_links.start_folder); once `fold_after` batches
    wait (no folder runs, or it fails), the request folds them itself."""
    batch_id = batch.batch_id
    if batch_id is not None:
        with db.connect() as conn:
            stored = storage.stored_batch(conn, batch_id)
        if stored is not None:
            return _replayed(batch_id, stored, body_hash)
    rows, uses = to_rows(batch, hasher, now)
    try:
        with storage.writing(db, storage.BULK_WAIT_MS / 1000, storage.BULK_POLL_S) as conn:
            if batch_id is not None and not storage.claim_batch(conn, batch_id, body_hash, len(rows), time.time()):
                raise _AlreadyStored
            waiting = storage.insert_usage(conn, rows, pack(uses), time.time())
    except _AlreadyStored:
        with db.connect() as conn:
            stored = storage.stored_batch(conn, batch_id or "")
        if stored is None:      # cannot happen: a committed twin claimed it, and batches are never deleted
            raise
        return _replayed(batch_id or "", stored, body_hash)
    if waiting >= fold_after:
        fold_after_commit(folder or LinkFolder(db, hasher))
    return Ingested(len(rows), False)


def fold_after_commit(folder: LinkFolder) -> None:
    """The batch is stored: a fold that fails (the database went away, the budget ran out) must
    not turn its 202 into an error. Its links wait for the next fold; one line says why."""
    try:
        folder.fold()
    except SQLAlchemyError as e:
        log.warning("folding usage links after a stored batch failed; they wait for the next fold: %s",
                    storage.one_line(e))


def _replayed(batch_id: str, stored: tuple[str, int], body_hash: str) -> Ingested:
    if stored[0] != body_hash:
        raise Conflict(f"batch_id {batch_id!r} was already used for another body", field="batch_id")
    return Ingested(stored[1], True)
