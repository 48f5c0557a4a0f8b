"""The SQL store: SQLAlchemy models, a Database built from settings, and packaged Alembic migrations."""

from __future__ import annotations

from corral.sql.database import Database, create_store_engine, normalise_url
from corral.sql.migrate import upgrade
from corral.sql.models import (
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
