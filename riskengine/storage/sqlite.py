"""SQLite's write gate, machine-wide file locks, WAL checkpoints and multi-row inserts."""
from __future__ import annotations

import fcntl
import functools
import itertools
import logging
import os
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from riskengine.storage.deadline import Deadline, DeadlineExceeded, current, within
from riskengine.storage.engine import CHECKPOINTED

log = logging.getLogger(__name__)

BULK_WAIT_MS = 10_000


BULK_POLL_S = 0.002


@functools.lru_cache(maxsize=16)
def _values_sql(head: str, width: int, rows: int, tail: str = "") -> str:
    return f"{head} VALUES {','.join(['(' + ','.join('?' * width) + ')'] * rows)} {tail}"


def insert_many(conn: Connection, head: str, rows: list[tuple], tail: str = "", params: int = 30_000) -> None:
    """Rows inserted by multi-row statements of up to `params` parameters each, on SQLite.

    Not the driver's executemany: that steps once per row, and sqlite3 lets go of the GIL
    around every step; with any other thread of the process busy, each step waits up to
    the 5 ms switch interval to get it back (measured: 34 ms for 10,000 rows alone, 28 s
    beside one busy thread), all while holding the database's write lock."""
    if not rows:
        return
    per = max(1, params // len(rows[0]))
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        conn.exec_driver_sql(_values_sql(head, len(chunk[0]), len(chunk), tail),
                             tuple(itertools.chain.from_iterable(chunk)))


class WriteBusy(SQLAlchemyError):
    """Another writer held SQLite's write lock for longer than the caller may wait."""


_GATES: dict[str, tuple[threading.Lock, int, int]] = {}


_GATES_LOCK = threading.Lock()


def _gate(path: str):
    with _GATES_LOCK:
        gate = _GATES.get(path)
        if gate is None or gate[2] != os.getpid():       # a forked child opens its own
            fd = os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o600)
            gate = _GATES[path] = (threading.Lock(), fd, os.getpid())
        return gate


def _sqlite_file(engine: Engine) -> str | None:
    """The absolute path of an engine's SQLite file; None for PostgreSQL or an in-memory database."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    return os.path.abspath(path) if path and path != ":memory:" else None


@contextmanager
def writing(engine: Engine, wait: float | Deadline, poll_s: float = 0.0002):
    """A write transaction. On SQLite, writers queue: threads of this process on a lock,
    other processes on a file lock polled every `poll_s` (0.2 ms for logins). SQLite's own
    busy handler would sleep 1, 2, 5, 10... ms between tries, which is what a login's p99
    pays under load. Bulk writers poll less often: their waits are long, their work big.

    `wait` is the request's Deadline on the login path: the gate, SQLite's busy handler and
    every answer from PostgreSQL all come out of it, and once it has run out nothing is
    written. For bulk writers it is the seconds they may wait for the gate alone (their
    transactions are big, and bounded by the engine's own timeouts), or less when the caller
    runs within a deadline that ends sooner (then all its waits come out of that one)."""
    deadline: Deadline | None
    if isinstance(wait, Deadline):
        deadline = gate_until = wait
    else:
        deadline = _sooner_than(wait)
        gate_until = deadline or Deadline(wait)
    with within(deadline):
        path = _sqlite_file(engine)
        if path is None:
            with engine.begin() as conn:
                yield conn
            return
        with _gated(path, gate_until, poll_s):
            if deadline is not None and deadline.expired():
                raise DeadlineExceeded("the request's database budget ran out waiting for the write gate")
            with engine.begin() as conn:
                yield conn


def _sooner_than(seconds: float) -> Deadline | None:
    """The deadline the caller already runs within (a request's, a folder round's) when it ends
    before `seconds` from now: a bulk writer's own wait never outlasts its caller's budget."""
    outer = current()
    return outer if outer is not None and outer.remaining() < seconds else None


@contextmanager
def _gated(path: str, until: Deadline, poll_s: float):
    lock, fd, _ = _gate(path)
    if not lock.acquire(timeout=until.remaining()):
        raise WriteBusy("timed out waiting for this process's other writers")
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if until.expired():
                    raise WriteBusy("timed out waiting for another process's write") from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        lock.release()


@contextmanager
def alone(engine: Engine, name: str):
    """True when no other process holds `name` for this database (then this one does, until the
    block ends); False at once otherwise. SQLite: a file lock, one machine. PostgreSQL: a session
    advisory lock, across replicas; it ends with its connection, so if that drops another
    process takes over (callers must still be safe when run side by side)."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine, name) as mine:
            yield mine
        return
    path = _sqlite_file(engine)
    if path is None:
        yield True
        return
    fd = os.open(path + f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)      # releases the lock


@contextmanager
def _advisory(engine: Engine, name: str):
    key = zlib.crc32(f"riskengine.{name}".encode())
    with engine.connect() as conn:
        mine = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()       # the lock is the session's: no transaction stays open while it is held
        try:
            yield mine
        finally:
            if mine:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except SQLAlchemyError:      # the connection is gone, and the lock with it
                    pass


@contextmanager
def bulk_checkpoints(engine: Engine, pages: int = 50_000):
    """For a bulk writer: let SQLite's WAL grow to `pages` before checkpointing, so index and
    account pages rewritten by many transactions are copied to the database once, not each
    time (the connection keeps the default again afterwards)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(pages)}")
    try:
        yield
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")


CHECKPOINT_EVERY_S = 0.2


def start_checkpointer(engine: Engine, every: float = CHECKPOINT_EVERY_S) -> threading.Event | None:
    """WAL checkpoints off the request path (SQLite; nothing to do on PostgreSQL). Returns an
    Event that stops the thread when set (None when nothing was started).

    By default the commit that takes the WAL past 1,000 pages copies it back into the database
    and waits for two fsyncs, on a request's time: on a busy disk that commit took up to a
    second (docs/performance.md). Here the engine's connections stop checkpointing and a daemon
    thread of this process runs a PASSIVE checkpoint every `every` seconds on a connection of its
    own: it waits for no reader or writer, and sqlite3 lets go of the GIL while it copies and
    syncs. Another process's checkpointer doing the same meanwhile makes this one a no-op."""
    path = _sqlite_file(engine)
    if path is None or engine in CHECKPOINTED:
        return None
    CHECKPOINTED.add(engine)
    engine.dispose()            # pooled connections were opened checkpointing: open new ones
    stop = threading.Event()

    def loop():
        con = sqlite3.connect(path, timeout=1.0, check_same_thread=False)
        failing = False
        try:
            while not stop.wait(every):
                try:
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    failing = False
                except sqlite3.Error as e:      # logged once per failing run; the next tick tries again
                    if not failing:
                        log.warning("WAL checkpoint failed: %s", e)
                    failing = True
        finally:
            con.close()
            CHECKPOINTED.discard(engine)     # connections opened from now on checkpoint again

    threading.Thread(target=loop, name="sqlite-checkpointer", daemon=True).start()
    return stop
