"""PostgreSQL connections that keep the request's deadline on the client side.

statement_timeout and lock_timeout are enforced by the server: a server that is frozen
(SIGSTOP, a hung host) or cut off by a partition never enforces them, and its kernel, or
nobody, acknowledges what is sent, so neither TCP keepalives nor tcp_user_timeout fire in
time either. psycopg waits for every answer in Connection.wait (and for a new connection in
waiting.wait_conn); both take a timeout, which is the time left of the current deadline."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg import waiting
from psycopg.adapt import AdaptersMap
from psycopg.conninfo import make_conninfo

from riskengine.storage.deadline import Deadline, current, within

ROLLBACK_GRACE_S = 0.02     # ending a transaction is not refused because the work before it used the budget


class DeadlinePassed(psycopg.OperationalError):
    """The request's database budget ran out while waiting for PostgreSQL; the connection
    was closed, since the exchange it was in the middle of is in an unknown state."""


class BoundedConnection(psycopg.Connection):
    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> BoundedConnection:  # type: ignore[override]
        deadline = current()
        if deadline is None:
            return super().connect(conninfo, **kwargs)
        # psycopg's own connect takes connect_timeout in whole seconds, at least 2.
        left = deadline.remaining()
        if left <= 0:
            raise DeadlinePassed("the request's database budget ran out before connecting")
        # What is not a libpq parameter is applied afterwards, as psycopg's connect does.
        autocommit, prepare_threshold = kwargs.pop("autocommit", False), kwargs.pop("prepare_threshold", 5)
        context = kwargs.pop("context", None)
        try:
            conn = waiting.wait_conn(cls._connect_gen(make_conninfo(conninfo, **kwargs)), interval=0.1, timeout=left)
        except psycopg.OperationalError as e:
            if deadline.expired():
                raise DeadlinePassed(f"no connection within the {left * 1000:.0f} ms left of the request's "
                                     "database budget") from e
            raise
        conn.autocommit = bool(autocommit)
        conn.prepare_threshold = prepare_threshold
        if context is not None:
            conn._adapters = AdaptersMap(context.adapters)
        return conn

    def wait(self, gen, interval: float = 0.1, timeout: float | None = None):
        deadline = current()
        if deadline is None:
            return super().wait(gen, interval, timeout)
        left = deadline.remaining()
        try:
            if left <= 0:
                raise DeadlinePassed("the request's database budget ran out")
            return super().wait(gen, interval, left if timeout is None else min(timeout, left))
        except psycopg.OperationalError as e:
            if not deadline.expired():
                raise
            self.pgconn.finish()        # never reused: closed, the server rolls back
            if isinstance(e, DeadlinePassed):
                raise
            raise DeadlinePassed(f"PostgreSQL did not answer within the {left * 1000:.0f} ms left of the "
                                 "request's database budget") from e

    def rollback(self) -> None:
        deadline = current()
        if deadline is None:
            return super().rollback()
        with within(Deadline(max(deadline.remaining(), ROLLBACK_GRACE_S))):
            return super().rollback()


def connect_args(timeout_ms: int) -> dict:
    """libpq settings: the server stops a statement or a lock wait after timeout_ms (it frees
    the server's side early); TCP gives up on a peer that stops acknowledging (a partition)
    after timeout_ms, and probes an idle pooled connection's peer."""
    return {
        "connect_timeout": max(2, -(-timeout_ms // 1000)),      # libpq's least: used without a deadline
        "options": f"-c statement_timeout={int(timeout_ms)} -c lock_timeout={int(timeout_ms)}",
        "tcp_user_timeout": max(int(timeout_ms), 1000),
        "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 2, "keepalives_count": 3,
    }
