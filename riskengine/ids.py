"""Sortable identifiers: 48 bits of milliseconds then 80 random bits, Crockford base32 (ULID)."""
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    n = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_ALPHABET[(n >> s) & 31] for s in range(125, -1, -5))


def assessment_id(now: float | None = None) -> str:
    return "asm_" + ulid(now)
