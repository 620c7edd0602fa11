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
    pass


def _alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from riskengine.storage import optimize
    command.upgrade(_alembic_config(engine), revision)
    optimize(engine)


def revision(engine: Engine, message: str) -> None:
    command.revision(_alembic_config(engine), message=message, autogenerate=True)


def head() -> str:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_current(engine: Engine) -> None:
    have, want = current(engine), head()
    if have != want:
        raise NotMigrated(
            f"the database is at schema revision {have or 'none'}, this riskengine needs {want}: "
            "run `riskengine db upgrade` (with the same RISKENGINE_DATABASE_URL) first")
