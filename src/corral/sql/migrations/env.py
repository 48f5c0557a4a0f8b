"""Alembic environment: migrates over the connection handed in by corral.sql.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from corral.sql.database import create_store_engine
from corral.sql.migrate import load_models


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=load_models(),
        # SQLite cannot ALTER most things; batch mode rebuilds tables for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # An application's own history is recorded apart from the platform's (see migrate.AppMigrations).
        version_table=context.config.attributes.get("version_table", "alembic_version"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection, or connect to `sqlalchemy.url` when run from the alembic CLI."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or call corral.sql.migrate.upgrade(database_url)")
    engine = create_store_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run them against a database")
run_migrations_online()
