"""What the served request path does once instead of per request (docs/performance.md)."""
from __future__ import annotations

import threading
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from riskengine.signals import automation
from riskengine.signals.warm import warm_up
from riskengine.web.ratelimit import InProcessStorage


def _threads_started_by(monkeypatch, storage, hits: int) -> int:
    """Threads started while `hits` hits are counted, each after the 10 ms that MemoryStorage's
    expiry timer runs for (so it has always fired by the next hit)."""
    limiter = FixedWindowRateLimiter(storage)
    item = parse("1000/second")
    time.sleep(0.05)          # the timer either store starts in its constructor has fired
    started = []
    original = threading.Thread.start

    def counting_start(self, *a, **kw):
        started.append(self.name)
        return original(self, *a, **kw)
    with monkeypatch.context() as m:
        m.setattr(threading.Thread, "start", counting_start)
        for _ in range(hits):
            limiter.hit(item, "key", "assess")
            time.sleep(0.015)
    return len(started)


def test_in_process_counters_start_no_thread_per_request(monkeypatch):
    # limits' own store starts a timer thread on a hit once the last one has fired (about every
    # hit here; fewer if a busy machine delays the timers): ours none.
    assert _threads_started_by(monkeypatch, MemoryStorage(), 10) >= 1
    assert _threads_started_by(monkeypatch, InProcessStorage(), 10) == 0


def test_in_process_counters_count_and_expire_by_window():
    limiter = FixedWindowRateLimiter(InProcessStorage())
    item = parse("3/second")
    assert [limiter.hit(item, "k", "g") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(item, "other", "g")            # per key
    time.sleep(1.1)                                   # the next window
    assert limiter.hit(item, "k", "g")


def test_warm_up_builds_the_crawler_list_before_any_request():
    warm_up()
    assert automation._crawler_list.cache_info().currsize == 1
