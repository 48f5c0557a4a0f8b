"""The reference application's tables: its own migration history, run after the platform's, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from corral.sql import Database, upgrade
from corral_reference.app import app
from corral_reference.tables import ReferenceBase

from sql.sql_peers import postgres_schemas

__all__ = ["postgres_schemas"]

REFERENCE_TABLES = {"articles", "article_revisions", "analytics_events", "analytics_rollups"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'corral.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_schemas")
    return make()


def test_the_reference_tables_have_their_own_history_and_match_the_models(empty_store_url: str) -> None:
    # Given a store migrated for the platform alone
    upgrade(empty_store_url)
    database = Database(empty_store_url)
    try:
        assert not REFERENCE_TABLES & set(inspect(database.engine).get_table_names())
        # When the reference application's migrations run too (twice: the second run changes nothing)
        upgrade(empty_store_url, apps=app.migrations)
        upgrade(empty_store_url, apps=app.migrations)
        # Then its tables exist, its revision is in its own version table, and its models describe them exactly
        tables = set(inspect(database.engine).get_table_names())
        assert REFERENCE_TABLES <= tables and "corral_reference_version" in tables
        with database.engine.connect() as connection:
            version = MigrationContext.configure(connection, opts={"version_table": "corral_reference_version"})
            assert version.get_current_revision() == "r0001"
            # The platform's tables are not in this metadata: only the reference tables are compared.
            only_reference = {
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name in REFERENCE_TABLES,
            }
            context = MigrationContext.configure(connection, opts=only_reference)
            assert compare_metadata(context, ReferenceBase.metadata) == []
    finally:
        database.dispose()
