"""The SQL store's connection: an engine and transactions for SQLite (default) or PostgreSQL by URL."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool

from corral.errors import ConfigurationError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_DRIVERS = frozenset({"postgres", "postgresql", "postgresql+psycopg"})


def normalise_url(database_url: str) -> URL:
    """The URL SQLAlchemy should use: `postgres://` and `postgresql://` go through psycopg 3."""
    try:
        url = make_url(database_url)
    except Exception as exc:
        raise ConfigurationError(f"database_url: not a database URL ({exc})") from None
    if url.drivername in POSTGRES_DRIVERS:
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in ("sqlite", "sqlite+pysqlite"):
        return url
    raise ConfigurationError(f"database_url: unsupported back-end {url.drivername!r}; use sqlite or postgresql")


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:")


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the database in WAL mode, once for the file. Switching a fresh file upgrades a read lock to a write lock,
    and SQLite answers "database is locked" at once, without waiting on busy_timeout, while another connection is
    writing (several processes opening a new store together): retry until the busy timeout has passed."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _sqlite_engine(url: URL) -> Engine:
    if _is_memory(url):
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(str(url.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Corral issues BEGIN itself (below); the driver's own implicit transactions are turned off.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if not _is_memory(url):
            _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # Take the write lock up front: a transaction that reads then writes can then never fail with
        # "database is locked" on upgrading its lock; writers queue on busy_timeout instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_store_engine(database_url: str | URL) -> Engine:
    """An engine for the store URL with Corral's connection settings (SQLite pragmas, PostgreSQL pre-ping)."""
    url = normalise_url(database_url) if isinstance(database_url, str) else database_url
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def lock_key(name: str) -> int:
    """The 64-bit key of PostgreSQL's advisory locks for a lock name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class Database:
    """The SQL store of one process: an engine, short transactions, and schema migration."""

    def __init__(self, database_url: str) -> None:
        self.url = normalise_url(database_url)
        self.engine = create_store_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """The back-end's name: `sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits when the block ends and rolls back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def insert(self, model: type[DeclarativeBase]) -> sqlite.Insert | postgresql.Insert:
        """An INSERT for `model` in this back-end's dialect, which offers ON CONFLICT clauses."""
        if self.dialect == "postgresql":
            return postgresql.insert(model)
        return sqlite.insert(model)

    def lock(self, session: Session, name: str) -> None:
        """Hold a named lock until the session's transaction ends (SQLite transactions already exclude writers)."""
        if self.dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})

    def upgrade(self, revision: str = "head") -> None:
        """Apply the shipped migrations up to `revision`."""
        from corral.sql.migrate import upgrade_engine

        upgrade_engine(self.engine, revision)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
