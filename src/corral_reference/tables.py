"""The reference application's tables (articles and revisions, analytics events and rollups), in its own metadata.

They are created by the application's own migration history (`corral_reference/migrations`, version table
`corral_reference_version`), run whenever a command serves the reference application.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from corral.sql.models import NAMING_CONVENTION, BigId, JsonDocument, UtcDateTime, utcnow

ARTICLE_STATUSES = ("draft", "scheduled", "published")
ROLLUP_GRANULARITIES = ("hour", "day")


class ReferenceBase(DeclarativeBase):
    """Declarative base of the reference application's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Article(ReferenceBase):
    """An article of the reference platform: its latest saved content and publication state."""

    __tablename__ = "articles"
    __table_args__ = (CheckConstraint("status IN ('draft', 'scheduled', 'published')", name="status"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    channels: Mapped[list[str]] = mapped_column(JsonDocument, default=list)
    current_revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ArticleRevision(ReferenceBase):
    """One autosaved revision of an article; (article, revision) is unique."""

    __tablename__ = "article_revisions"
    __table_args__ = (UniqueConstraint("article_id", "revision"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    article_id: Mapped[str] = mapped_column(String(128), ForeignKey("articles.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AnalyticsEvent(ReferenceBase):
    """One raw analytics event; (batch_key, seq) makes a re-run ingest of the same batch a no-op."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        UniqueConstraint("batch_key", "seq"),
        Index("ix_analytics_events_type_ts", "type", "ts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    article_id: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(128))
    session_id: Mapped[str | None] = mapped_column(String(128))
    props: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    batch_key: Mapped[str | None] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(Integer)


class AnalyticsRollup(ReferenceBase):
    """Counts of one event type in one hour or day bucket; article_id NULL is the all-articles total."""

    __tablename__ = "analytics_rollups"
    __table_args__ = (
        CheckConstraint("granularity IN ('hour', 'day')", name="granularity"),
        Index("ix_analytics_rollups_bucket", "granularity", "bucket_start", "type"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    granularity: Mapped[str] = mapped_column(String(8))
    bucket_start: Mapped[datetime] = mapped_column(UtcDateTime)
    type: Mapped[str] = mapped_column(String(64))
    article_id: Mapped[str | None] = mapped_column(String(128))
    count: Mapped[int] = mapped_column(Integer)
    unique_users: Mapped[int] = mapped_column(Integer)
    unique_sessions: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
