"""Checks API keys per request (riskengine.apikeys makes and hashes them).

Verified keys are cached briefly, so a login keeps being answered while the database is
down; revocation takes effect within `key_cache_seconds`."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import wraps

from flask import current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from riskengine import storage
from riskengine.apikeys import hash_secret
from riskengine.web.errors import ApiError


@dataclass
class _Entry:
    name: str
    scopes: frozenset
    revoked: bool
    checked: float


class KeyCache:
    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def resolve(self, db, key_hash: str) -> _Entry | None:
        now = time.monotonic()
        entry = self._entries.get(key_hash)
        if entry is not None and now - entry.checked < self.ttl:
            return entry
        try:
            with db.connect() as conn:
                row = storage.key_by_hash(conn, key_hash)
        except SQLAlchemyError as e:
            if entry is not None:        # database down: trust what we verified before
                return entry
            raise ApiError(503, "cannot verify the API key: the database is unavailable") from e
        if row is None:
            return None
        entry = _Entry(row.name, frozenset(row.scopes.split()), row.revoked_ts is not None, now)
        with self._lock:
            self._entries[key_hash] = entry
        return entry


def require(scope: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer ") or not header[7:].strip():
                raise ApiError(401, "missing API key: send Authorization: Bearer <key>")
            state = current_app.extensions["riskengine"]
            entry = current_app.extensions["riskengine.keys"].resolve(state.db, hash_secret(header[7:].strip()))
            if entry is None or entry.revoked:
                raise ApiError(401, "unknown or revoked API key")
            if scope not in entry.scopes and "admin" not in entry.scopes:
                raise ApiError(403, f"this API key lacks the `{scope}` scope")
            g.api_key = entry.name
            return view(*args, **kwargs)
        return wrapped
    return decorator
