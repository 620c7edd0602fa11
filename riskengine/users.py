"""Console users: passwords hashed with argon2id (argon2-cffi's PasswordHasher, its RFC 9106
low-memory profile), roles, and checking a login. The command `riskengine users create` and
the console's login use these; SQL is in storage/users.py."""
from __future__ import annotations

import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from riskengine.errors import InvalidInput
from riskengine.storage import users as store

ROLES = ("viewer", "analyst", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
MIN_PASSWORD = 12
_hasher = PasswordHasher()
# Checked against when the user does not exist, so that an unknown name costs the same time.
_DUMMY = _hasher.hash("not a password of anyone")


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 64 or any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidInput("name: 1 to 64 printable characters without spaces", field="name")
    return name


def create_user(db: Engine, name: str, role: str, password: str) -> None:
    name = check_name(name)
    if role not in ROLES:
        raise InvalidInput(f"role: must be one of {', '.join(ROLES)}", field="role")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters", field="password")
    with db.begin() as conn:
        if store.user(conn, name) is not None:
            raise InvalidInput(f"name: a user {name!r} exists already", field="name")
        store.add_user(conn, name, role, _hasher.hash(password), time.time())


def authenticate(db: Engine, name: str, password: str) -> dict | None:
    """The user (name, role) when the password is theirs and the user is enabled, else None."""
    with db.connect() as conn:
        row = store.user(conn, (name or "").strip())
    try:
        _hasher.verify(row["password_hash"] if row else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled_ts"] is not None:
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        with db.begin() as conn:
            store.set_password(conn, row["name"], _hasher.hash(password))
    return {"name": row["name"], "role": row["role"]}
