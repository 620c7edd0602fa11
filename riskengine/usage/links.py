"""Usage links: the (device, ip, subnet) links a usage batch implies, waiting in pendinglinks
until a folder merges many batches into entitylink at once (see LinkFolder)."""
from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Iterable
from contextlib import ExitStack

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from riskengine import storage
from riskengine.hashing import Hasher
from riskengine.signals.ip import subnet_of
from riskengine.storage import one_line

log = logging.getLogger(__name__)

_UNPACK = msgspec.msgpack.Decoder(list[tuple[str, str | None, str | None, float, float]])


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
    hashes = hasher.memo("usage link ip")      # canonical ip -> (ip hash, subnet hash)
    for ip, _ in by_ip:
        if ip not in hashes:
            hashes[ip] = (hasher("ip", ip), hasher("subnet", subnet_of(ip)))
    for (ip, account), (first, last) in by_ip.items():
        _merge(by_subnet, (hashes[ip][1], account), first, last)
    # events 0: entitylink.events counts signup and login events; usage moves first/last seen
    return ([("device", d, a, f, la, 0) for (d, a), (f, la) in by_device.items()]
            + [("ip", hashes[ip][0], a, f, la, 0) for (ip, a), (f, la) in by_ip.items()]
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
                 forget_after: float = 3600.0, budget_s: float = 5.0):
        self.db, self.hasher, self.tolerance, self.budget_s = db, hasher, tolerance, budget_s
        self.remember, self.forget_after = remember, forget_after
        self.written: dict[tuple, list[float]] = {}      # (account, ip, device) -> [first, last]
        self.since = time.monotonic()
        self.lock = threading.Lock()

    def fold(self, batches: int = 64) -> int:
        """Fold until no batch waits, `batches` at a time; returns the batches folded here
        (0 at once when another thread or process on this machine is folding)."""
        if not self.lock.acquire(blocking=False):
            return 0
        outer = storage.current()
        try:
            with self.step(outer), storage.alone(self.db, "fold") as alone:
                return self._fold(batches, outer) if alone else 0
        finally:
            self.lock.release()

    def step(self, outer: storage.Deadline | None = None):
        """The bound on one step's database waits (a read, a write transaction): the caller's
        deadline when it has one (a /v1/usage request folding), else `budget_s` of its own.
        A frozen or unreachable database then fails the step, never hangs the folder."""
        return storage.within(outer or storage.Deadline(self.budget_s))

    def _fold(self, batches: int, outer: storage.Deadline | None) -> int:
        folded = 0
        while True:
            with self.step(outer), self.db.connect() as conn:
                taken = storage.pending_links(conn, batches)
            if not taken:
                return folded
            uses = self._changed(itertools.chain.from_iterable(_UNPACK.decode(blob) for _, blob in taken))
            links = links_of(uses, self.hasher)
            ids = [i for i, _ in taken]
            try:
                with self.step(outer), storage.writing(self.db, storage.BULK_WAIT_MS / 1000,
                                                       storage.BULK_POLL_S) as conn:
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
        for account, ip, device, first, last in uses:
            _merge(self.written, (account, ip, device), first, last)


class _Raced(Exception):
    """Another folder took some of these batches first: roll back, read again."""


def start_folder(folder: LinkFolder, every: float, longest: float = 60.0) -> threading.Event:
    """A daemon thread that folds waiting links about every `every` seconds, so usage links
    reach entitylink within about that long. Each served worker starts one; on SQLite one
    of them folds for the machine and the others stand by to take over if its process
    ends: one folder remembers every use it wrote, so it rewrites the fewest links.
    While the database fails, each failure is one log line and the rounds back off,
    doubling up to `longest` seconds apart. Set the returned event to stop it."""
    stop = threading.Event()
    pause = Backoff(every, longest)

    def fold_while_mine():
        with ExitStack() as held:
            with folder.step():      # taking the folder's lock is bounded too; holding it is no wait
                mine = held.enter_context(storage.alone(folder.db, "folder"))
            while mine and not stop.wait(pause.next() * random.uniform(0.5, 1.5)):
                try:
                    folder.fold()
                except SQLAlchemyError as e:     # the database is down or busy: a later round retries
                    pause.failed()
                    log.warning("folding usage links failed, retrying in about %.0f s: %s", pause.next(), one_line(e))
                except Exception:       # a bug, not the database: its traceback says where
                    pause.failed()
                    log.exception("folding usage links failed")
                else:
                    pause.succeeded()

    def loop():
        while not stop.is_set():
            try:
                fold_while_mine()
            except SQLAlchemyError as e:        # on SQLite, alone() itself can fail
                pause.failed()
                log.warning("usage link folder cannot start, retrying: %s", one_line(e))
            stop.wait(pause.next())

    threading.Thread(target=loop, name="usage-link-folder", daemon=True).start()
    return stop


class Backoff:
    """`every` seconds between rounds; after each failure in a row twice as long, up to `longest`."""

    def __init__(self, every: float, longest: float):
        self.every, self.longest, self.failures = every, max(every, longest), 0

    def next(self) -> float:
        return min(self.every * 2 ** min(self.failures, 30), self.longest)

    def failed(self) -> None:
        self.failures += 1

    def succeeded(self) -> None:
        self.failures = 0
