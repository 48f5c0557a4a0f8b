"""Fixtures of the security tests: the SQL store over SQLite and PostgreSQL."""

from sql.sql_peers import database, postgres_schemas, postgres_store_url, store_url

__all__ = ["database", "postgres_schemas", "postgres_store_url", "store_url"]
