"""Tables of accounts and access: users, personal API tokens and the data-access log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from corral.sql.models import Base, BigId, JsonDocument, UtcDateTime, utcnow

ROLES = ("owner", "admin", "editor", "viewer")


class User(Base):
    """An account: email, argon2 password hash, role; disabled accounts keep their history."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('owner', 'admin', 'editor', 'viewer')", name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """A personal API token: only a SHA-256 digest of it is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DataAccessRecord(Base):
    """One sensitive read: who read which records of what kind, when and from where."""

    __tablename__ = "data_access_log"
    __table_args__ = (Index("ix_data_access_log_target", "target_type", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(320), index=True)
    target_type: Mapped[str] = mapped_column(String(64))
    target_ids: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
