"""Runs the Alembic migrations shipped inside the package, programmatically."""

from __future__ import annotations

import importlib
import logging
import pkgutil

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData

from corral.store.database import create_store_engine
from corral.store.models import Base

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = "corral.store:migrations"


def load_models() -> MetaData:
    """Import every model module of the store (`models` and `*_models`), so the metadata holds every table."""
    import corral.store

    for module in pkgutil.iter_modules(corral.store.__path__):
        if module.name == "models" or module.name.endswith("_models"):
            importlib.import_module(f"corral.store.{module.name}")
    return Base.metadata


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations; no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind `engine` up to `revision`, in one transaction where the back-end allows."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("SQL store at revision %s", current_revision(engine))


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the store at `database_url` (SQLite or PostgreSQL) up to `revision`; `corral up` calls this."""
    engine = create_store_engine(database_url)
    try:
        upgrade_engine(engine, revision)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest shipped revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
