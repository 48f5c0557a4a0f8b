"""The SQL store: packaged migrations on SQLite and PostgreSQL, URL handling, UTC timestamps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import StatementError

from corral.errors import ConfigurationError
from corral.settings import Settings
from corral.sql import AuditLog, Database, normalise_url, upgrade
from corral.sql.migrate import alembic_config, current_revision, head_revision, load_models

STORE_TABLES = {"audit_log", "users", "api_tokens"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that has never been migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'corral.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_schemas")
    return make()


def test_migrations_create_every_table_and_match_the_models(empty_store_url: str) -> None:
    # Given a database that was never migrated
    database = Database(empty_store_url)
    try:
        assert current_revision(database.engine) is None
        # When the packaged migrations run
        upgrade(empty_store_url)
        # Then it is at the head revision, has every table, and the models describe exactly that schema
        assert current_revision(database.engine) == head_revision() is not None
        assert STORE_TABLES <= set(inspect(database.engine).get_table_names())
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, load_models()) == []
    finally:
        database.dispose()


def test_upgrading_twice_is_harmless_and_downgrade_removes_the_tables(empty_store_url: str) -> None:
    # Given a migrated database
    database = Database(empty_store_url)
    try:
        database.upgrade()
        # When it is upgraded again
        database.upgrade()
        # Then nothing changes
        assert current_revision(database.engine) == head_revision()
        # And when it is downgraded to base, every table is gone
        config = alembic_config()
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    finally:
        database.dispose()


def test_timestamps_come_back_timezone_aware_in_utc(database: Database) -> None:
    # Given an audit row written with a non-UTC offset
    written = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with database.transaction() as session:
        session.add(AuditLog(actor="ada", action="login", created_at=written))
    # When it is read back
    with database.transaction() as session:
        row = session.scalars(select(AuditLog)).one()
    # Then the same instant comes back in UTC, with microseconds
    assert row.created_at == written
    assert row.created_at.tzinfo is UTC
    assert row.created_at.hour == 10
    assert row.params == {} and row.result == "ok"


def test_naive_timestamps_are_refused(database: Database) -> None:
    # Given a naive datetime, whose zone nobody knows
    # When it is written
    # Then the store refuses it instead of guessing
    with pytest.raises(StatementError, match="naive datetime"), database.transaction() as session:
        session.add(AuditLog(actor="ada", action="login", created_at=datetime(2024, 1, 1)))
        session.flush()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u:p@db:5432/corral", "postgresql+psycopg"),
        ("postgres://u@db/corral", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/corral", "postgresql+psycopg"),
        ("sqlite:///tmp/x.db", "sqlite"),
    ],
)
def test_urls_are_normalised_to_the_psycopg_driver(given: str, driver: str) -> None:
    assert normalise_url(given).drivername == driver


@pytest.mark.parametrize("given", ["mysql://u@db/corral", "not a url"])
def test_unsupported_urls_are_refused(given: str) -> None:
    with pytest.raises(ConfigurationError, match="database_url"):
        normalise_url(given)


def test_default_store_is_a_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    # Given settings without a database URL
    settings = Settings(data_dir=tmp_path / "nested" / "data")
    # When the store is migrated and used
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    try:
        with database.transaction() as session:
            session.add(AuditLog(actor="ada", action="login"))
        # Then it lives in <data_dir>/corral.db, in WAL mode
        assert (tmp_path / "nested" / "data" / "corral.db").is_file()
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        database.dispose()


def test_a_store_opened_while_another_connection_holds_the_fresh_file_waits_for_it(tmp_path: Path) -> None:
    # Given a fresh store file that another process is writing (it is creating the file's first table)
    import sqlite3
    import threading

    path = tmp_path / "corral.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE first (id INTEGER)")
    released = threading.Timer(0.5, holder.execute, args=("COMMIT",))
    released.start()
    database = Database(f"sqlite:///{path}")
    try:
        # When the store opens a connection meanwhile, Then it waits for the lock and puts the file in WAL mode
        with database.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        released.join()
        holder.close()
        database.dispose()


def test_processes_migrating_a_fresh_store_at_once_all_succeed(empty_store_url: str) -> None:
    # Given a store that has never been migrated, and four API processes starting at the same moment
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from sqlalchemy import create_engine

    from corral_reference.app import app as reference

    together = Barrier(4)

    def start() -> None:
        together.wait(timeout=60)
        upgrade(empty_store_url, apps=reference.migrations)

    # When each migrates it (platform and application tables)
    with ThreadPoolExecutor(4) as pool:
        outcomes = [pool.submit(start) for _ in range(4)]
        errors = [future.exception(timeout=120) for future in outcomes]
    # Then none fails, and the store is at the head revision with every table
    assert errors == [None] * 4
    engine = create_engine(empty_store_url)
    try:
        assert current_revision(engine) == head_revision()
        assert STORE_TABLES <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
