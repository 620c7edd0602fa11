"""A fast, deterministic random source for the simulator.

``numpy.random.Generator`` is the source of randomness (no global state); drawing
single values from it costs microseconds per call, which dominates a simulator that
draws hundreds of thousands of scalars.  :class:`Rand` pulls uniforms from a
Generator in blocks and derives everything else (integers, choices, normals,
exponentials, hex ids) from them in pure Python, so the stream depends only on the
seed and on the order of calls.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

import numpy as np

T = TypeVar("T")

_BLOCK = 8192
_B32 = "0123456789abcdefghijklmnopqrstuv"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Rand:
    """Buffered uniform stream over a numpy Generator."""

    __slots__ = ("_gen", "_buf", "_i")

    def __init__(self, seed_or_gen: int | np.random.SeedSequence | np.random.Generator):
        if isinstance(seed_or_gen, np.random.Generator):
            self._gen = seed_or_gen
        else:
            self._gen = np.random.default_rng(seed_or_gen)
        self._buf: list[float] = []
        self._i = 0

    @classmethod
    def streams(cls, seed: int, names: Sequence[str]) -> dict[str, Rand]:
        """Independent named streams derived from one seed (stable per name order)."""
        children = np.random.SeedSequence(seed).spawn(len(names))
        return {n: cls(np.random.default_rng(c)) for n, c in zip(names, children, strict=True)}

    def child(self) -> Rand:
        """An independent stream seeded from this one."""
        return Rand(int(self.random() * (1 << 53)))

    # -- primitives ------------------------------------------------------------------
    def random(self) -> float:
        i = self._i
        buf = self._buf
        if i >= len(buf):
            buf = self._buf = self._gen.random(_BLOCK).tolist()
            i = 0
        self._i = i + 1
        return buf[i]

    def chance(self, p: float) -> bool:
        return self.random() < p

    def integers(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi)."""
        return lo + int(self.random() * (hi - lo))

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.random()

    def choice(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        """k distinct elements (k is clipped to len(seq))."""
        pool = list(seq)
        k = min(k, len(pool))
        for j in range(k):
            m = j + int(self.random() * (len(pool) - j))
            pool[j], pool[m] = pool[m], pool[j]
        return pool[:k]

    def shuffle(self, lst: list) -> None:
        for j in range(len(lst) - 1, 0, -1):
            m = int(self.random() * (j + 1))
            lst[j], lst[m] = lst[m], lst[j]

    def normal(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        u1 = self.random() or 1e-12
        u2 = self.random()
        return mu + sigma * math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)

    def lognormal(self, mu: float, sigma: float) -> float:
        return math.exp(self.normal(mu, sigma))

    def expo(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.random())

    def poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 40:
            return max(0, int(round(self.normal(lam, math.sqrt(lam)))))
        limit = math.exp(-lam)
        k, p = 0, self.random()
        while p > limit:
            k += 1
            p *= self.random()
        return k

    def skewed_index(self, n: int, power: float = 2.5) -> int:
        """Index in [0, n) biased towards 0 (popular items first)."""
        return min(n - 1, int(n * self.random() ** power))

    # -- strings ---------------------------------------------------------------------
    def hex(self, n: int) -> str:
        out = []
        while n > 0:
            take = min(n, 13)
            out.append(format(int(self.random() * (1 << 52)), "013x")[-take:])
            n -= take
        return "".join(out)

    def b32(self, n: int) -> str:
        return "".join(_B32[int(self.random() * 32)] for _ in range(n))

    def b62(self, n: int) -> str:
        return "".join(_B62[int(self.random() * 62)] for _ in range(n))

    def digits(self, n: int) -> str:
        return "".join(str(int(self.random() * 10)) for _ in range(n))

    def letters(self, n: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> str:
        return "".join(alphabet[int(self.random() * len(alphabet))] for _ in range(n))


class Weighted:
    """A fixed weighted choice (cumulative weights + bisect)."""

    __slots__ = ("items", "_cum", "_total")

    def __init__(self, pairs: Sequence[tuple[T, float]] | dict):
        if isinstance(pairs, dict):
            pairs = list(pairs.items())
        pairs = [(k, float(w)) for k, w in pairs if w > 0]
        if not pairs:
            raise ValueError("Weighted needs at least one positive weight")
        self.items = [k for k, _ in pairs]
        self._cum = list(accumulate(w for _, w in pairs))
        self._total = self._cum[-1]

    def pick(self, rand: Rand):
        return self.items[bisect.bisect_right(self._cum, rand.random() * self._total)]
