"""API keys: 256-bit random secrets, created on the command line and stored only as SHA-256
hashes. A fast hash is enough for secrets that random (no password stretching needed)."""
from __future__ import annotations

import hashlib
import secrets
import time

from riskengine import storage

SCOPES = ("assess", "usage", "labels", "read", "admin")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db, name: str, scopes: list[str] | None) -> str:
    scopes = list(scopes or SCOPES)
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise ValueError(f"unknown scope(s) {bad}; scopes are {', '.join(SCOPES)}")
    secret = "rk_" + secrets.token_urlsafe(32)
    with db.begin() as conn:
        storage.insert_key(conn, name, hash_secret(secret), scopes, time.time())
    return secret
