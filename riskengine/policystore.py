"""The policy in force: the newest version published from the console (table policyversion),
else the seed file (the bundled riskengine/policy/default.toml, or RISKENGINE_POLICY).

Every process polls for a new version in a background thread (at most every `RECHECK_S`), so
every worker of every replica decides with a new version within seconds of its publication,
without a restart, and the request path never waits for the poll. A version that fails to
parse, or a database that cannot be read, keeps the policy in use (and says so in the log)."""
from __future__ import annotations

import copy
import logging
import threading
import tomllib
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from riskengine.config import DEFAULT_POLICY
from riskengine.scoring.policy import Policy, PolicyError
from riskengine.storage import policies

log = logging.getLogger(__name__)

RECHECK_S = 1.0


def seed_body(path: str | None) -> dict:
    """The seed policy as its TOML parses (what the console edits, and the first version)."""
    p = Path(path) if path else DEFAULT_POLICY
    try:
        return tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PolicyError(f"cannot read policy {p}: {e}") from None


def version_name(version_id: int) -> str:
    """What assessments decided by a published version carry as policy_version."""
    return f"console-{version_id}"


def parse_version(version_id: int, body: dict) -> Policy:
    return Policy.parse({**body, "version": version_name(version_id)})


class PolicySource:
    def __init__(self, db: Engine, seed: Policy, seed_path: str | None, on_change: Callable[[Policy], None]):
        self.db = db
        self.seed = seed
        self.seed_path = seed_path
        self.on_change = on_change
        self.version_id: int | None = None        # the published version in use; None: the seed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def body(self, version_id: int | None = None) -> tuple[int | None, dict]:
        """(id, body) of a version (the newest without an id), or (None, the seed's body)."""
        with self.db.connect() as conn:
            row = policies.policy_version(conn, version_id)
        if row is None:
            return None, seed_body(self.seed_path)
        return row["id"], copy.deepcopy(row["body"])

    def refresh(self) -> bool:
        """Load the newest version if it is not the one in use; True when the policy changed."""
        try:
            with self.db.connect() as conn:
                newest = policies.newest_policy_id(conn)
                if newest == self.version_id:
                    return False
                row = policies.policy_version(conn, newest) if newest is not None else None
        except SQLAlchemyError as e:
            log.warning("policy versions cannot be read (%s); keeping policy %s", e, self.version_id or "seed")
            return False
        with self._lock:
            if row is None:
                policy = self.seed
            else:
                try:
                    policy = parse_version(row["id"], row["body"])
                except PolicyError as e:
                    log.error("policy version %s does not parse (%s); keeping the one in use", newest, e)
                    self.version_id = newest          # do not retry a broken version every second
                    return False
            self.version_id = newest
            self.on_change(policy)
        return True

    def watch(self) -> None:
        """Start polling in this process (idempotent; after a fork, each worker starts its own)."""
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._poll, name="riskengine-policy", daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(RECHECK_S):
            self.refresh()

    def close(self) -> None:
        self._stop.set()
