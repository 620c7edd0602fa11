"""POST /v1/usage: decode and validate a batch, turn it into rows and account links, store it whole.

The batch schema is a msgspec Struct, not a pydantic model like the other bodies: a batch is
10,000 records, and msgspec decodes and validates one in about a fifth of pydantic's time,
without building Python dicts first (scripts/bench_ingest.py shows the split)."""
from __future__ import annotations

import itertools
import logging
import random
import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from . import storage
from .errors import ApiError
from .hashing import Hasher
from .schemas import canonical_ip
from .signals.ip import subnet_of

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


# strict=False: the same lax coercions the pydantic bodies allow ("5" and 5.0 for 5).
_DECODER = msgspec.json.Decoder(UsageBatch, strict=False)
_UNPACK = msgspec.msgpack.Decoder(list[tuple[str, str | None, str | None, float, float]])
_AT = re.compile(r"^(?P<msg>.*) - at `\$(?P<path>[^`]*)`$", re.S)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


def parse_batch(raw: bytes) -> UsageBatch:
    """A request body as a validated batch, or the ApiError that names what is wrong."""
    try:
        batch = _DECODER.decode(raw)
    except msgspec.ValidationError as e:
        raise _named(str(e)) from None
    except msgspec.DecodeError as e:
        raise ApiError(400, f"body is not valid JSON: {e}") from None
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


def _named(message: str) -> ApiError:
    m = _AT.match(message)
    msg, field = (m["msg"], m["path"].lstrip(".")) if m else (message, "")
    if not field and not _MISSING.match(msg):
        return ApiError(422, "body must be a JSON object with a `records` array", field="body")
    missing = _MISSING.match(msg)
    if missing:
        field = f"{field}.{missing['name']}" if field else missing["name"]
        return ApiError(422, f"{field} is required", field=field)
    if field == "records" and "length <=" in msg:
        return ApiError(413, f"at most {MAX_USAGE_RECORDS} records a call", field="records")
    return ApiError(422, f"{field}: {msg}", field=field)


def _bad(i: int, name: str, why: str) -> ApiError:
    return ApiError(422, f"records[{i}].{name} {why}", field=f"records[{i}].{name}")


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
        key, model, fp = r.api_key_id, r.model, r.prompt_fingerprint
        if fp is not None:
            fp = int(fp, 16)
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
    seen[raw] = hasher.cached("device", value) if value else None
    return seen[raw]


def _ip(i: int, raw: str, seen: dict[str, str]) -> str:
    try:
        seen[raw] = canonical_ip(raw.strip())
    except ValueError:
        raise _bad(i, "ip", "is not an IPv4 or IPv6 address") from None
    return seen[raw]


def links_of(uses: Iterable[tuple], hasher: Hasher) -> list[tuple]:
    """The (device, ip, subnet) links that uses imply, merged, one per (kind, value, account):
    tuples (kind, value, account_id, first, last, n) in storage.LINK_PARAMS order."""
    by_ip: dict[tuple, list] = {}
    by_device: dict[tuple, list] = {}
    for account, ip, device, first, last in uses:
        if ip:
            _merge(by_ip, (ip, account), first, last)
        if device:
            _merge(by_device, (device, account), first, last)
    by_subnet: dict[tuple, list] = {}
    ip_hash = {ip: hasher.cached("ip", ip) for ip in {ip for ip, _ in by_ip}}
    subnet_hash = {ip: hasher.cached("subnet", subnet_of(ip)) for ip in ip_hash}
    for (ip, account), (first, last) in by_ip.items():
        _merge(by_subnet, (subnet_hash[ip], account), first, last)
    # events 0: entitylink.events counts signup and login events; usage moves first/last seen
    return ([("device", d, a, f, la, 0) for (d, a), (f, la) in by_device.items()]
            + [("ip", ip_hash[ip], a, f, la, 0) for (ip, a), (f, la) in by_ip.items()]
            + [("subnet", sn, a, f, la, 0) for (sn, a), (f, la) in by_subnet.items()])


def _merge(into: dict, key: tuple, first: float, last: float) -> None:
    s = into.get(key)
    if s is None:
        into[key] = [first, last]
        return
    if first < s[0]:
        s[0] = first
    if last > s[1]:
        s[1] = last


def ingest(db, batch: UsageBatch, hasher: Hasher, folder: LinkFolder | None = None, fold_after: int = 1,
           now: float | None = None) -> int:
    """Store a batch whole. Its links wait for the workers' folder (start_folder); once
    `fold_after` batches wait (no folder runs, or it fails), the request folds them itself."""
    rows, uses = to_rows(batch, hasher, now)
    with storage.writing(db, storage.BULK_WAIT_MS / 1000, storage.BULK_POLL_S) as conn:
        waiting = storage.insert_usage(conn, rows, pack(uses), time.time())
    if waiting >= fold_after:
        (folder or LinkFolder(db, hasher)).fold()
    return len(rows)


def pack(uses: list[tuple]) -> bytes:
    """A batch's uses as stored until folded (MessagePack: compact, and decoded in C)."""
    return msgspec.msgpack.encode(uses)


class LinkFolder:
    """Folds waiting usage links into entitylink, for one database.

    The links are worked out before the write transaction, so ingestion is not held up by
    hashing and merging. The transaction deletes the batches it folds and writes their
    links together: a crash folds nothing twice and loses nothing, and a folder that finds
    its batches already gone (another replica folded them meanwhile) rolls back.

    An active account's links would be rewritten on every fold, though all that changes is
    last_seen by a few seconds. The folder remembers the uses (account, ip, device, span) it
    wrote and skips a use whose span it already wrote to within `tolerance` seconds, before
    any hashing: the three links a use implies were stored with at least that span, and
    stored spans only ever widen, so what it remembers is a safe lower bound. Usage
    refreshes when a link was seen, not entitylink.events, which counts signup and login
    events."""

    def __init__(self, db, hasher: Hasher, tolerance: float = 60.0, remember: int = 1_000_000,
                 forget_after: float = 3600.0):
        self.db, self.hasher, self.tolerance = db, hasher, tolerance
        self.remember, self.forget_after = remember, forget_after
        self.written: dict[tuple, tuple[float, float]] = {}
        self.since = time.monotonic()
        self.lock = threading.Lock()

    def fold(self, batches: int = 64) -> int:
        """Fold until no batch waits, `batches` at a time; returns the batches folded here
        (0 at once when another thread or process on this machine is folding)."""
        if not self.lock.acquire(blocking=False):
            return 0
        try:
            with storage.alone(self.db, "fold") as alone:
                return self._fold(batches) if alone else 0
        finally:
            self.lock.release()

    def _fold(self, batches: int) -> int:
        folded = 0
        while True:
            with self.db.connect() as conn:
                taken = storage.pending_links(conn, batches)
            if not taken:
                return folded
            uses = self._changed(itertools.chain.from_iterable(_UNPACK.decode(blob) for _, blob in taken))
            links = links_of(uses, self.hasher)
            ids = [i for i, _ in taken]
            try:
                with storage.writing(self.db, storage.BULK_WAIT_MS / 1000, storage.BULK_POLL_S) as conn:
                    if storage.delete_pending_links(conn, ids) != len(ids):
                        raise _Raced
                    storage.upsert_links(conn, links)
            except _Raced:
                continue
            self._remember(uses)
            folded += len(ids)

    def _changed(self, uses: Iterable[tuple]) -> list[tuple]:
        if time.monotonic() - self.since > self.forget_after or len(self.written) > self.remember:
            self.written, self.since = {}, time.monotonic()    # bounded; and a purged link is relinked
        written, tol = self.written, self.tolerance
        out = []
        for use in uses:
            seen = written.get(use[:3])
            if seen is None or use[3] < seen[0] or use[4] > seen[1] + tol:
                out.append(use)
        return out

    def _remember(self, uses: list[tuple]) -> None:
        written = self.written
        for account, ip, device, first, last in uses:
            seen = written.get((account, ip, device))
            written[(account, ip, device)] = (first, last) if seen is None else (min(first, seen[0]),
                                                                                max(last, seen[1]))


class _Raced(Exception):
    """Another folder took some of these batches first: roll back, read again."""


def start_folder(folder: LinkFolder, every: float) -> threading.Event:
    """A daemon thread that folds waiting links about every `every` seconds, so usage links
    reach entitylink within about that long. Each served worker starts one; on SQLite one
    of them folds for the machine and the others stand by to take over if its process
    ends: one folder remembers every use it wrote, so it rewrites the fewest links.
    Set the returned event to stop it."""
    stop = threading.Event()

    def fold_while_mine():
        with storage.alone(folder.db, "folder") as mine:
            while mine and not stop.wait(every * random.uniform(0.5, 1.5)):
                try:
                    folder.fold()
                except Exception:     # the database is down or busy: the next round retries
                    log.warning("folding usage links failed; retrying", exc_info=True)

    def loop():
        while not stop.is_set():
            fold_while_mine()
            stop.wait(every)

    threading.Thread(target=loop, name="usage-link-folder", daemon=True).start()
    return stop
