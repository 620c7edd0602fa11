"""Checks API keys per request (riskengine.apikeys makes and hashes them), then the key's rate limit.

A verified key is re-checked against the database at most every `key_cache_seconds` (0.5 s
by default: one indexed read of the key's row per key and worker, so a revoked key is refused
by every worker of every replica within a second). While the database cannot be reached, a
key keeps working for `key_outage_seconds` (60) after its last successful check; a key seen
revoked never works again in this process, whatever the database says later."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from riskengine import storage
from riskengine.apikeys import COLLECT, hash_secret
from riskengine.forwarded import client_address
from riskengine.schemas import canonical_ip
from riskengine.signals.ip import subnet_of
from riskengine.web.errors import ApiError


@dataclass(frozen=True)
class _Entry:
    name: str
    scopes: frozenset
    revoked: bool
    checked: float      # monotonic time of the last successful database check


class KeyCache:
    def __init__(self, recheck_seconds: float, outage_seconds: float = 60.0):
        self.recheck = recheck_seconds
        self.outage = outage_seconds
        self._entries: dict[str, _Entry] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def resolve(self, db, key_hash: str) -> _Entry | None:
        if key_hash in self._revoked:
            return None
        now = time.monotonic()
        entry = self._entries.get(key_hash)
        if entry is not None and now - entry.checked < self.recheck:
            return entry
        try:
            with db.connect() as conn:
                row = storage.key_by_hash(conn, key_hash)
        except SQLAlchemyError as e:
            if entry is not None and now - entry.checked < self.outage:   # database down: trust a recent check
                return entry
            raise ApiError(503, "cannot verify the API key: the database is unavailable",
                           headers={"Retry-After": "1"}) from e
        if row is None:
            with self._lock:
                self._entries.pop(key_hash, None)
            return None
        entry = _Entry(row.name, frozenset(row.scopes.split()), row.revoked_ts is not None, now)
        with self._lock:
            if entry.revoked:
                self._revoked.add(key_hash)
                self._entries.pop(key_hash, None)
            else:
                self._entries[key_hash] = entry
        return entry


def client_ip() -> str:
    """The caller's address: the peer, or behind RISKENGINE_TRUSTED_PROXIES the first
    X-Forwarded-For hop that is not one of them (riskengine.forwarded), canonical."""
    address = client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                             current_app.extensions["riskengine.proxies"])
    return canonical_ip(address or "0.0.0.0")


def bearer_secret(header: str) -> str | None:
    """The key in an `Authorization: Bearer <key>` header; the scheme is case-insensitive (RFC 9110)."""
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def require(scope: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            secret = bearer_secret(request.headers.get("Authorization", ""))
            if secret is None:
                raise ApiError(401, "missing API key: send Authorization: Bearer <key>")
            state = current_app.extensions["riskengine"]
            entry = current_app.extensions["riskengine.keys"].resolve(state.db, hash_secret(secret))
            if entry is None or entry.revoked:
                raise ApiError(401, "unknown or revoked API key")
            if scope == COLLECT and COLLECT not in entry.scopes:
                # Not even admin: a secret key has no business in a web page.
                raise ApiError(403, "POST /v1/device takes a publishable key (riskengine keys create NAME "
                                    "--scope collect), not a secret one")
            if scope not in entry.scopes and "admin" not in entry.scopes:
                raise ApiError(403, f"this API key lacks the `{scope}` scope")
            g.api_key = entry.name
            # A publishable key is every visitor's: its limit counts per client network as well.
            counted = f"{entry.name}@{subnet_of(client_ip())}" if scope == COLLECT else entry.name
            current_app.extensions["riskengine.limits"].check(counted, scope)
            return view(*args, **kwargs)
        return wrapped
    return decorator
