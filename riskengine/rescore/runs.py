"""Vectorised helpers over sorted arrays cut into runs (start, size): shared by the
template families and the account clusters."""
from __future__ import annotations

import numpy as np


def ranks(sizes: np.ndarray) -> np.ndarray:
    """0..size-1 for every run, concatenated."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - sizes, sizes)


def pairs_within(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (p, q), p < q, of every pair inside each run."""
    pos = np.repeat(starts, sizes) + ranks(sizes)
    after = np.repeat(starts + sizes, sizes) - pos - 1          # positions following p in its run
    p = np.repeat(pos, after)
    return p, p + 1 + ranks(after)
