"""Fixtures of the SQL store's tests: `store_url` and `database` over SQLite and PostgreSQL."""

from __future__ import annotations

from sql.sql_peers import database, postgres_schemas, postgres_store_url, store_url

__all__ = ["database", "postgres_schemas", "postgres_store_url", "store_url"]
