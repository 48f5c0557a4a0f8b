"""SQL store peers for tests: a SQLite file and a PostgreSQL schema of its own, both migrated.

`store_url` is parametrised over both back-ends. PostgreSQL (127.0.0.1:5432, database `test`, user
`postgres`) is skipped when unreachable, unless the CI environment variable is set: then it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from corral.sql import Database, upgrade
from corral_reference.app import app as REFERENCE_APP

POSTGRES_DSN = os.environ.get("CORRAL_TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
BACKENDS = ("sqlite", "postgresql")


def _postgres_url(schema: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(POSTGRES_DSN)
    host, port, dbname, user = info.get("host"), info.get("port", 5432), info.get("dbname"), info.get("user")
    # search_path confines every table, alembic_version included, to the schema.
    return f"postgresql+psycopg://{user}@{host}:{port}/{dbname}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[Callable[[], str]]:
    """Factory: a new empty PostgreSQL schema, as a store URL; every schema is dropped at the end."""
    try:
        admin = psycopg.connect(POSTGRES_DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_DSN}: {exc}")
    created: list[str] = []

    def make() -> str:
        schema = f"corral_test_{uuid.uuid4().hex[:12]}"
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        created.append(schema)
        return _postgres_url(schema)

    try:
        yield make
    finally:
        for schema in created:
            admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        admin.close()


@pytest.fixture(scope="session")
def postgres_store_url(postgres_schemas: Callable[[], str]) -> str:
    """One migrated PostgreSQL schema for the session; `store_url` empties it before each test."""
    url = postgres_schemas()
    upgrade(url, apps=REFERENCE_APP.migrations)
    return url


def _empty_postgres_tables(url: str) -> None:
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            tables = [
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename NOT IN ('alembic_version', 'corral_reference_version')"
                )
            ]
            if tables:
                quoted = ", ".join(f'"{table}"' for table in tables)
                connection.exec_driver_sql(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
    finally:
        database.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty store: a SQLite file, or the session's PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'corral.db'}"
        upgrade(url, apps=REFERENCE_APP.migrations)
        return url
    url: str = request.getfixturevalue("postgres_store_url")
    _empty_postgres_tables(url)
    return url


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    """A Database over `store_url`, disposed after the test."""
    db = Database(store_url)
    yield db
    db.dispose()
