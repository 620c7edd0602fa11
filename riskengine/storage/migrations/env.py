"""Alembic environment: migrations run from `riskengine db upgrade` with the configured URL."""
from alembic import context
from sqlmodel import SQLModel

from riskengine.storage import tables  # noqa: F401  (registers the tables on the metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connectable = context.config.attributes["engine"]
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
