"""Rate limits per API key and route group (the key's scope on the route), with the `limits` library.

Counters live in this process by default, so with several gunicorn workers each worker
counts for itself (a limit of N/second lets up to workers x N through). With
RISKENGINE_REDIS_URL they live in Redis and hold across every worker of every replica.

The counter store is never allowed to fail or slow a login: Redis gets socket timeouts of a
few milliseconds, and after a failure the store is not asked again for `OPEN_SECONDS`
(a circuit breaker); meanwhile requests pass uncounted and are not marked degraded."""
from __future__ import annotations

import logging
import math
import threading
import time

from limits import RateLimitItem
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from riskengine.web.errors import ApiError

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 0.02     # a local Redis answers in well under a millisecond
OPEN_SECONDS = 5.0
SWEEP_SECONDS = 1.0


class InProcessStorage(MemoryStorage):
    """limits' MemoryStorage without its expiry thread. MemoryStorage starts a new
    threading.Timer thread on a hit whenever the last one (10 ms) has fired: under load that
    is a thread started per request, each one queueing for the GIL behind the request threads
    (docs/performance.md). A fixed window's counter already expires when it is read
    (MemoryStorage.get); counters never read again are swept here at most once a second."""

    def __init__(self, *args, **kwargs):
        self._next_sweep = 0.0
        super().__init__(*args, **kwargs)

    def _MemoryStorage__schedule_expiry(self) -> None:     # replaces MemoryStorage's (name-mangled)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            self._MemoryStorage__expire_events()       # type: ignore[attr-defined]


class RateLimiter:
    def __init__(self, limits: dict[str, RateLimitItem], redis_url: str | None = None, prefix: str = "riskengine"):
        self.limits = limits
        self.storage: Storage
        if redis_url:
            self.storage = RedisStorage(redis_url, key_prefix=prefix, socket_timeout=REDIS_TIMEOUT_S,
                                        socket_connect_timeout=REDIS_TIMEOUT_S, retry_on_timeout=False)
        else:
            self.storage = InProcessStorage()
        self.limiter = FixedWindowRateLimiter(self.storage)
        self._open_until = 0.0
        self._lock = threading.Lock()

    def check(self, key_name: str, group: str) -> None:
        """Count one request of `key_name` on `group`; raise the contract's 429 when over the limit."""
        item = self.limits.get(group)
        if item is None or self.is_open():
            return
        try:
            if self.limiter.hit(item, key_name, group):
                return
            stats = self.limiter.get_window_stats(item, key_name, group)
        except Exception as e:      # any failure of the store (connection, timeout, protocol): let it pass
            self._trip(e)
            return
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        raise ApiError(429, f"rate limit of {item} for `{group}` routes exceeded; retry in {reset} s", headers={
            "Retry-After": str(reset), "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(stats.remaining), "RateLimit-Reset": str(reset)})

    def is_open(self) -> bool:
        """True while the breaker keeps the store out of requests."""
        return time.monotonic() < self._open_until

    def _trip(self, error: Exception) -> None:
        with self._lock:
            self._open_until = time.monotonic() + OPEN_SECONDS
        log.warning("rate-limit store failed (%s); requests pass uncounted for %.0f s", error, OPEN_SECONDS)
