"""The reference application's tables: articles and revisions, analytics events and rollups.

Revision ID: r0001
Revises:
Create Date: 2026-12-02

Stores made before these tables had their own history got them from the platform's first migration: they are
kept as they are, and only the missing ones are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types as they were at this revision.
Timestamp = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "articles" not in existing:
        op.create_table(
            "articles",
            sa.Column("id", sa.String(128), nullable=False),
            sa.Column("title", sa.String(300), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("scheduled_for", Timestamp, nullable=True),
            sa.Column("published_at", Timestamp, nullable=True),
            sa.Column("channels", Json, nullable=False),
            sa.Column("current_revision", sa.Integer(), nullable=False),
            sa.Column("created_at", Timestamp, nullable=False),
            sa.Column("updated_at", Timestamp, nullable=False),
            sa.CheckConstraint("status IN ('draft', 'scheduled', 'published')", name=op.f("ck_articles_status")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
        )
        op.create_index(op.f("ix_articles_status"), "articles", ["status"])
    if "article_revisions" not in existing:
        op.create_table(
            "article_revisions",
            sa.Column("id", BigId, autoincrement=True, nullable=False),
            sa.Column("article_id", sa.String(128), nullable=False),
            sa.Column("revision", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.String(128), nullable=False),
            sa.Column("title", sa.String(300), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("saved_at", Timestamp, nullable=False),
            sa.ForeignKeyConstraint(
                ["article_id"],
                ["articles.id"],
                name=op.f("fk_article_revisions_article_id_articles"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_article_revisions")),
            sa.UniqueConstraint("article_id", "revision", name=op.f("uq_article_revisions_article_id_revision")),
        )
    if "analytics_events" not in existing:
        op.create_table(
            "analytics_events",
            sa.Column("id", BigId, autoincrement=True, nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("ts", Timestamp, nullable=False),
            sa.Column("article_id", sa.String(128), nullable=True),
            sa.Column("user_id", sa.String(128), nullable=True),
            sa.Column("session_id", sa.String(128), nullable=True),
            sa.Column("props", Json, nullable=False),
            sa.Column("batch_key", sa.String(64), nullable=True),
            sa.Column("seq", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_events")),
            sa.UniqueConstraint("batch_key", "seq", name=op.f("uq_analytics_events_batch_key_seq")),
        )
        op.create_index(op.f("ix_analytics_events_ts"), "analytics_events", ["ts"])
        op.create_index("ix_analytics_events_type_ts", "analytics_events", ["type", "ts"])
    if "analytics_rollups" not in existing:
        op.create_table(
            "analytics_rollups",
            sa.Column("id", BigId, autoincrement=True, nullable=False),
            sa.Column("granularity", sa.String(8), nullable=False),
            sa.Column("bucket_start", Timestamp, nullable=False),
            sa.Column("type", sa.String(64), nullable=False),
            sa.Column("article_id", sa.String(128), nullable=True),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("unique_users", sa.Integer(), nullable=False),
            sa.Column("unique_sessions", sa.Integer(), nullable=False),
            sa.Column("computed_at", Timestamp, nullable=False),
            sa.CheckConstraint("granularity IN ('hour', 'day')", name=op.f("ck_analytics_rollups_granularity")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_rollups")),
        )
        op.create_index("ix_analytics_rollups_bucket", "analytics_rollups", ["granularity", "bucket_start", "type"])


def downgrade() -> None:
    op.drop_table("analytics_rollups")
    op.drop_table("analytics_events")
    op.drop_table("article_revisions")
    op.drop_table("articles")
