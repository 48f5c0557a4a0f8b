"""The SQL store: SQLAlchemy models, a Database built from settings, and packaged Alembic migrations."""

from __future__ import annotations

from corral.store.database import Database, create_store_engine, normalise_url
from corral.store.migrate import upgrade
from corral.store.models import (
    AuditLog,
    Base,
    utcnow,
)

__all__ = [
    "AuditLog",
    "Base",
    "Database",
    "create_store_engine",
    "normalise_url",
    "upgrade",
    "utcnow",
]
