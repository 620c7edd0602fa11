"""Keyed hashes for identifiers that are stored only to link accounts (emails, phones, cards...).

A keyed hash instead of a plain hash: phone numbers and card fingerprints have small
spaces, so an unkeyed hash is reversible by enumeration to anyone who reads the table.
BLAKE2b in keyed mode is a MAC like HMAC-SHA256, in one C call: usage ingestion hashes tens
of thousands of identifiers a second.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


class Hasher:
    def __init__(self, key: bytes):
        if len(key) < 16:
            raise ValueError("hash key must be at least 16 bytes")
        # BLAKE2b takes keys of up to 64 bytes; a longer secret is condensed first.
        self._key = key if len(key) <= 64 else hashlib.sha256(key).digest()
        self._memos: dict[str, dict] = {}

    def memo(self, name: str, cap: int = 262_144) -> dict:
        """A plain dict for a hot loop to keep hashes in, bound to this key: usage batches hash
        the same devices and addresses batch after batch (a dict lookup costs a fraction of
        an lru_cache call). Emptied when it reaches `cap` entries."""
        memo = self._memos.setdefault(name, {})
        if len(memo) >= cap:
            memo.clear()
        return memo

    def derive(self, label: str) -> bytes:
        """A key for another purpose (e.g. signing device tokens), derived from this one:
        HMAC-SHA256(key, label). One secret to distribute; a derived key reveals nothing of it."""
        return hmac.new(self._key, label.encode(), hashlib.sha256).digest()

    def __call__(self, kind: str, value: str) -> str:
        # The kind is part of the message so equal strings of different kinds never collide.
        return hashlib.blake2b(f"{kind}\x00{value}".encode(), key=self._key, digest_size=16).hexdigest()


def load_hash_key(explicit: str | None, key_file: str | os.PathLike) -> bytes:
    """The configured key, else the persisted one, else a new key persisted on first start."""
    if explicit:
        return explicit.encode()
    path = Path(key_file)
    if path.exists():
        return path.read_text().strip().encode()
    key = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip().encode()
    try:
        os.write(fd, key.encode())
    finally:
        os.close(fd)
    return key.encode()
