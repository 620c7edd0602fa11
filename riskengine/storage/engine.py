"""Database engines for SQLite and PostgreSQL, and the helpers every storage module shares."""
from __future__ import annotations

import itertools
import os
import re
import weakref

from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from riskengine.config import DATABASE_URL, ConfigError, database_url_problem
from riskengine.storage.deadline import current

HOUR = 3600.0


DAY = 86400.0


WINDOWS = {"1h": HOUR, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}


class StorageError(RuntimeError):
    """The database failed or did not answer in time."""


class DatabaseUnavailable(StorageError, SQLAlchemyError):
    """The database could not be reached or opened; the message names RISKENGINE_DATABASE_URL
    and the server or file. Also an SQLAlchemyError, so the request path's degraded mode and
    its 503 (which catch SQLAlchemyError) treat it as any other database failure."""


def make_engine(url: str, timeout_ms: int = 500) -> Engine:
    problem = database_url_problem(url)
    if problem:
        raise ConfigError(DATABASE_URL, problem)
    eng = _sqlite_engine(url, timeout_ms) if url.startswith("sqlite") else _postgresql_engine(url, timeout_ms)
    _name_connect_failures(eng)
    return eng


# SQLite engines whose WAL a background checkpointer copies back (storage.start_checkpointer):
# their connections never checkpoint in a commit.
CHECKPOINTED: weakref.WeakSet[Engine] = weakref.WeakSet()


def _sqlite_engine(url: str, timeout_ms: int) -> Engine:
    _create_private(url)
    eng = create_engine(url, connect_args={"timeout": timeout_ms / 1000, "check_same_thread": False})

    @event.listens_for(eng, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")
        cur.execute("PRAGMA cache_size=-65536")      # 64 MiB: big indexes take random inserts
        if eng in CHECKPOINTED:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(eng, "checkout")
    def _busy_budget(dbapi_conn, _record, _proxy):
        # SQLite's busy handler waits at most what is left of the request's budget: after the
        # write gate's wait, not a whole budget more.
        deadline = current()
        dbapi_conn.execute(f"PRAGMA busy_timeout={int(timeout_ms) if deadline is None else deadline.remaining_ms()}")

    return eng


def _create_private(url: str) -> None:
    """Create a new SQLite database file readable by its owner alone (0600). SQLite gives the
    -wal and -shm files it creates later the database file's mode; left to SQLite, all three
    would be created with the process umask, typically 0644: world-readable raw data."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass          # another process created it first
    except OSError:
        pass          # no such directory, read-only...: connecting names the problem


def _postgresql_engine(url: str, timeout_ms: int) -> Engine:
    from riskengine.storage.postgresql import BoundedConnection, DeadlinePassed, connect_args
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    eng = create_engine(url, pool_pre_ping=True, pool_timeout=timeout_ms / 1000,
                        connect_args=connect_args(timeout_ms))

    @event.listens_for(eng, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        return BoundedConnection.connect(*cargs, **cparams)

    @event.listens_for(eng, "handle_error")
    def _discard_on_deadline(ctx):
        # The connection was closed mid-exchange: discard it, and only it (the others in the
        # pool are not known to be broken; a pre-ping checks each before use).
        if isinstance(ctx.original_exception, DeadlinePassed):
            ctx.is_disconnect = True
            ctx.invalidate_pool_on_disconnect = False

    return eng


def _name_connect_failures(eng: Engine) -> None:
    """A failure to connect raises DatabaseUnavailable, one line naming the setting and where
    it points (never the password), instead of the driver's multi-line message."""
    @event.listens_for(eng, "handle_error")
    def _unavailable(ctx):
        # No connection yet: connecting failed. A failed pre-ping is left to the pool, which
        # reconnects (and lands here if that fails).
        if ctx.connection is None and not ctx.is_pre_ping:
            raise DatabaseUnavailable(f"{DATABASE_URL}: cannot connect to {_where(eng.url)}: "
                                      f"{_reason(ctx.original_exception)}") from ctx.original_exception


def one_line(error: BaseException) -> str:
    """A database error's first line, for a log: SQLAlchemy's also carry the statement and its
    parameters (raw request data, up to a whole usage batch) and a link."""
    said = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {said[0] if said else ''}"


def _where(url) -> str:
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database or ':memory:'}"
    return f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432} (database {url.database})"


def _reason(error: BaseException) -> str:
    # psycopg says 'connection failed: connection to server at "h", port 1 failed: REASON\n\tIs the
    # server running...': the reason is what is new after what _where already says.
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return " ".join(lines[0].rsplit("failed: ", 1)[-1].split())


DRIVER_SQL: dict[tuple[int, str], str] = {}


def driver(conn: Connection, stmt, params):
    """Run a prebuilt text statement through the driver directly: on the login path
    SQLAlchemy's per-execute bookkeeping cost as much as SQLite's work. sqlite3 takes the
    :name style as is; psycopg wants %(name)s."""
    key = (id(stmt), conn.dialect.name)
    sql = DRIVER_SQL.get(key)
    if sql is None:
        sql = stmt.text if conn.dialect.name == "sqlite" else re.sub(r"(?<!:):(\w+)", r"%(\1)s", stmt.text)
        DRIVER_SQL[key] = sql
    return conn.exec_driver_sql(sql, params)


def optimize(engine: Engine) -> None:
    """Refresh SQLite's planner statistics (bounded work); PostgreSQL's autovacuum does this."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA analysis_limit=1000")   # sample, so big tables cost milliseconds
            conn.exec_driver_sql("ANALYZE")


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def chunked(rows, size: int = 500_000):
    """Lists of up to `size` rows from a cursor result (fetchmany) or any iterable."""
    if hasattr(rows, "fetchmany"):
        while block := rows.fetchmany(size):
            yield block
        return
    it = iter(rows)
    while block := list(itertools.islice(it, size)):
        yield block


def least_greatest(dialect: str) -> dict[str, str]:
    """SQL's two-argument minimum and maximum: MIN/MAX on SQLite, LEAST/GREATEST on PostgreSQL."""
    if dialect == "postgresql":
        return {"least": "LEAST", "greatest": "GREATEST"}
    return {"least": "MIN", "greatest": "MAX"}
