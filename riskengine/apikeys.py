"""API keys: 256-bit random secrets, created on the command line and stored only as SHA-256
hashes. A fast hash is enough for secrets that random (no password stretching needed)."""
from __future__ import annotations

import hashlib
import secrets
import time

from riskengine import storage

SCOPES = ("assess", "usage", "labels", "read", "admin")     # secret keys' scopes; no --scope: all of these
# A publishable key's only scope: it is embedded in web pages, so it can call POST /v1/device
# (the browser collector) and nothing else, and it is never given together with a secret scope.
COLLECT = "collect"
ALL_SCOPES = (*SCOPES, COLLECT)
SECRET_PREFIX, PUBLISHABLE_PREFIX = "rk_", "pk_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(db, name: str, scopes: list[str] | None) -> str:
    scopes = list(dict.fromkeys(scopes or SCOPES))
    bad = [s for s in scopes if s not in ALL_SCOPES]
    if bad:
        raise ValueError(f"unknown scope(s) {bad}; scopes are {', '.join(ALL_SCOPES)}")
    if COLLECT in scopes and len(scopes) > 1:
        raise ValueError("collect makes a publishable key (safe in a web page) and cannot be combined with "
                         f"secret scopes ({', '.join(s for s in scopes if s != COLLECT)}): create two keys")
    prefix = PUBLISHABLE_PREFIX if scopes == [COLLECT] else SECRET_PREFIX
    secret = prefix + secrets.token_urlsafe(32)
    with db.begin() as conn:
        storage.insert_key(conn, name, hash_secret(secret), scopes, time.time())
    return secret
