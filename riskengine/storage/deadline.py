"""One budget for every database wait of a request: the write gate, SQLite's busy handler,
PostgreSQL's connect, each statement and the network. A request makes one Deadline at its
start (RISKENGINE_DB_TIMEOUT_MS) and runs its database work `within` it; each wait takes what
remains. The bound is kept on the client side: a server that is frozen or cut off by a
partition never sends the answer that a server-side statement_timeout would."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.exc import SQLAlchemyError


class DeadlineExceeded(SQLAlchemyError):
    """The request's database budget ran out before the database answered. An SQLAlchemyError,
    so the request path's degraded mode treats it as any other database failure."""


class Deadline:
    __slots__ = ("at",)

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    @classmethod
    def after_ms(cls, ms: float) -> Deadline:
        return cls(ms / 1000)

    def remaining(self) -> float:
        """Seconds left, never below 0."""
        return max(0.0, self.at - time.monotonic())

    def remaining_ms(self) -> int:
        return int(self.remaining() * 1000)

    def expired(self) -> bool:
        return time.monotonic() >= self.at


_CURRENT: ContextVar[Deadline | None] = ContextVar("riskengine_db_deadline", default=None)


def current() -> Deadline | None:
    """The deadline of the work running in this thread (or task), if any."""
    return _CURRENT.get()


@contextmanager
def within(deadline: Deadline | None) -> Iterator[Deadline | None]:
    """Every database wait in the block ends by `deadline` (None: no deadline of its own)."""
    if deadline is None:
        yield current()
        return
    token = _CURRENT.set(deadline)
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)
