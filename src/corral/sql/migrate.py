"""Runs the Alembic migrations shipped inside the package, programmatically."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, text

from corral.sql.database import create_store_engine, lock_key
from corral.sql.models import Base

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = "corral.sql:migrations"
MIGRATION_LOCK = "corral.migrations"


def load_models() -> MetaData:
    """Import every model module of the store (`models` and `*_models`), so the metadata holds every table."""
    import corral.sql

    for module in pkgutil.iter_modules(corral.sql.__path__):
        if module.name == "models" or module.name.endswith("_models"):
            importlib.import_module(f"corral.sql.{module.name}")
    return Base.metadata


@dataclass(frozen=True)
class AppMigrations:
    """An application's own migration history: its versions directory, recorded in its own version table."""

    versions: Path
    version_table: str


def alembic_config(app: AppMigrations | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (or an application's); no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if app is not None:
        # The platform's environment, the application's revisions and version table: the histories never mix, so
        # a store can serve several applications, one after another.
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", str(app.versions))
        config.attributes["version_table"] = app.version_table
    return config


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """One process migrates at a time: on PostgreSQL a session advisory lock, held on a connection of its own, so
    that API processes starting together do not race to create the same tables (the others wait, then find the
    store at its head). SQLite's transactions already take the write lock up front."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": lock_key(MIGRATION_LOCK)})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(MIGRATION_LOCK)})
            connection.commit()


def upgrade_engine(engine: Engine, revision: str = "head", apps: Sequence[AppMigrations] = ()) -> None:
    """Migrate the database behind `engine` up to `revision`, then each application's tables to their head, in one
    transaction each where the back-end allows, one migrating process at a time."""
    with _one_migrator(engine):
        _upgrade(engine, revision, apps)


def _upgrade(engine: Engine, revision: str, apps: Sequence[AppMigrations]) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("SQL store at revision %s", current_revision(engine))
    for app in apps:
        app_config = alembic_config(app)
        with engine.begin() as connection:
            app_config.attributes["connection"] = connection
            command.upgrade(app_config, "head")


def upgrade(database_url: str, revision: str = "head", apps: Sequence[AppMigrations] = ()) -> None:
    """Migrate the store at `database_url` (SQLite or PostgreSQL) up to `revision`, and the tables of `apps` (an
    application's `migrations`); `corral up` calls this."""
    engine = create_store_engine(database_url)
    try:
        upgrade_engine(engine, revision, apps)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest shipped revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
