"""Initial store: articles and revisions, analytics events and rollups, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types as they were at this revision.
Timestamp = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
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

    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(256), nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("affected", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"])
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"])
    op.create_index(op.f("ix_audit_log_created_at"), "audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("analytics_rollups")
    op.drop_table("analytics_events")
    op.drop_table("article_revisions")
    op.drop_table("articles")
