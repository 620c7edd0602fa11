"""Schema migrations (Alembic), run by `riskengine db upgrade` and checked at start-up."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class NotMigrated(RuntimeError):
    """The database's schema is not the one this riskengine needs; the message says what to run."""


def _alembic_config(engine: Engine | None) -> AlembicConfig:
    """Without an engine: enough to read the revision scripts, not to run them."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from riskengine.storage import optimize
    _require_known(current(engine))
    command.upgrade(_alembic_config(engine), revision)
    optimize(engine)


def revision(engine: Engine, message: str) -> None:
    command.revision(_alembic_config(engine), message=message, autogenerate=True)


def head() -> str:
    rev = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
    assert rev is not None  # None only for a migrations folder without revisions; riskengine ships them
    return rev


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current(engine: Engine) -> None:
    have, want = current(engine), head()
    if have == want:
        return
    _require_known(have)
    state = "not migrated (it has no schema)" if have is None else f"at schema revision {have}"
    raise NotMigrated(f"the database is {state}, this riskengine needs {want}: "
                      "run `riskengine db upgrade` (with the same RISKENGINE_DATABASE_URL) first")


def _require_known(have: str | None) -> None:
    # A revision we do not ship was written by a newer riskengine: `db upgrade` cannot help
    # (Alembic would fail with "Can't locate revision"), running that release can.
    scripts = ScriptDirectory.from_config(_alembic_config(None))
    if have is not None and have not in {s.revision for s in scripts.walk_revisions()}:
        raise NotMigrated(f"the database is at schema revision {have}, which this riskengine does not know: "
                          "a newer riskengine migrated it; run that release")
