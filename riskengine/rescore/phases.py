"""Seconds per phase of a re-scoring run."""
from __future__ import annotations

import time


class Phases(dict):
    """Seconds per phase of a run, accumulated (`with phases("load"): ...`)."""

    def __call__(self, name: str):
        phases = self

        class _Timer:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - self.t
        return _Timer()
