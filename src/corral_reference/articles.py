"""The reference platform's articles: autosaved revisions and publication, now or at a scheduled time.

Autosave keeps the newest revision with one conditional upsert, so racing saves never let an older
revision overwrite a newer one. Publishing marks the article published and asks the search index to
index it; a publication in the future marks it scheduled and enqueues a delayed `article.publish`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select

from corral.contracts.base import EnqueueOptions
from corral.engine import MAX_DELAY_MS, idempotent_job_id
from corral.errors import EnqueueError, UnrecoverableJobError
from corral.producer import Producer
from corral.sql.database import Database
from corral.sql.models import utcnow
from corral_reference.contracts import ArticleAutosave, ArticlePublish
from corral_reference.tables import Article, ArticleRevision

logger = logging.getLogger(__name__)

PUBLISH_JOB = "article.publish"
SEARCH_DOC_TYPE = "article"

PublishState = Literal["published", "scheduled", "superseded"]


class ArticleNotFoundError(UnrecoverableJobError):
    """Raised when an article to publish has never been saved."""

    def __init__(self, article_id: str) -> None:
        super().__init__(f"article {article_id!r} does not exist")
        self.article_id = article_id


@dataclass(frozen=True)
class AutosaveOutcome:
    """What one autosave did: whether its revision became the article's current content."""

    article_id: str
    revision: int
    applied: bool
    current_revision: int


@dataclass(frozen=True)
class Publication:
    """The article's state after a publish request, with what was read to index it."""

    article_id: str
    state: PublishState
    title: str
    body: str
    revision: int
    channels: list[str]
    published_at: datetime | None
    scheduled_for: datetime | None


def schedule_key(article_id: str, scheduled_for: datetime) -> str:
    """The idempotency key of the delayed publish job for one article and time."""
    return f"{article_id}@{scheduled_for.astimezone(UTC).isoformat()}"


class ArticleStore:
    """Articles and revisions in the SQL store; blocking calls, run them in a thread from async code."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def autosave(
        self, article_id: str, user_id: str, revision: int, title: str, body: str, now: datetime | None = None
    ) -> AutosaveOutcome:
        """Store a revision; it becomes the article's content only if newer than the current one."""
        now = now or utcnow()
        db = self.database
        insert = db.insert(Article).values(
            id=article_id,
            title=title,
            body=body,
            status="draft",
            channels=[],
            current_revision=revision,
            created_at=now,
            updated_at=now,
        )
        # One statement decides and writes: concurrent saves are ordered by the row lock (PostgreSQL) or
        # the write lock (SQLite), and the WHERE refuses any revision not newer than the stored one.
        upsert = insert.on_conflict_do_update(
            index_elements=[Article.id],
            set_={
                "title": insert.excluded.title,
                "body": insert.excluded.body,
                "current_revision": insert.excluded.current_revision,
                "updated_at": insert.excluded.updated_at,
            },
            where=Article.current_revision < insert.excluded.current_revision,
        ).returning(Article.current_revision)
        history = (
            db.insert(ArticleRevision)
            .values(article_id=article_id, revision=revision, user_id=user_id, title=title, body=body, saved_at=now)
            .on_conflict_do_nothing(index_elements=[ArticleRevision.article_id, ArticleRevision.revision])
        )
        with db.transaction() as session:
            applied = session.execute(upsert).first() is not None
            session.execute(history)
            current = revision
            if not applied:
                current = session.execute(select(Article.current_revision).where(Article.id == article_id)).scalar_one()
        if not applied:
            logger.info("autosave of %s revision %d kept revision %d", article_id, revision, current)
        return AutosaveOutcome(article_id, revision, applied, current)

    def mark(
        self,
        article_id: str,
        channels: list[str],
        scheduled_for: datetime | None,
        *,
        due: bool,
        scheduled_run: bool,
        now: datetime | None = None,
    ) -> Publication:
        """Mark the article published (when `due`) or scheduled for `scheduled_for`, under its row lock."""
        now = now or utcnow()
        with self.database.transaction() as session:
            article = session.get(Article, article_id, with_for_update=True)
            if article is None:
                raise ArticleNotFoundError(article_id)
            state: PublishState
            if (
                scheduled_run
                and article.status == "scheduled"
                and article.scheduled_for is not None
                and article.scheduled_for != scheduled_for
            ):
                # A later request moved the publication; this delayed job is stale.
                state = "superseded"
            elif due or article.status == "published":
                # Publishing is idempotent: a published article keeps its first publication time.
                state = "published"
                if article.status != "published":
                    article.published_at = now
                article.status = "published"
                article.scheduled_for = None
                article.channels = list(channels)
                article.updated_at = now
            else:
                state = "scheduled"
                article.status = "scheduled"
                article.scheduled_for = scheduled_for
                article.channels = list(channels)
                article.updated_at = now
            return Publication(
                article_id=article.id,
                state=state,
                title=article.title,
                body=article.body,
                revision=article.current_revision,
                channels=list(article.channels),
                published_at=article.published_at,
                scheduled_for=article.scheduled_for,
            )

    def get(self, article_id: str) -> Article | None:
        """One article, detached from its session, or None."""
        with self.database.transaction() as session:
            return session.get(Article, article_id)

    def revisions(self, article_id: str) -> list[ArticleRevision]:
        """Every stored revision of an article, oldest first."""
        with self.database.transaction() as session:
            query = (
                select(ArticleRevision)
                .where(ArticleRevision.article_id == article_id)
                .order_by(ArticleRevision.revision)
            )
            return list(session.scalars(query))


class ArticleService:
    """Autosave and publish as the workers run them: SQL in a thread, follow-up jobs through the producer."""

    def __init__(self, store: ArticleStore, producer: Producer) -> None:
        self.store = store
        self.producer = producer

    async def autosave(self, payload: ArticleAutosave) -> dict[str, Any]:
        """Store one autosaved revision; the result says whether it is now the current one."""
        outcome = await asyncio.to_thread(
            self.store.autosave, payload.articleId, payload.userId, payload.revision, payload.title, payload.body
        )
        return {
            "articleId": outcome.article_id,
            "revision": outcome.revision,
            "applied": outcome.applied,
            "currentRevision": outcome.current_revision,
        }

    async def publish(self, payload: ArticlePublish, job_id: str | None = None) -> dict[str, Any]:
        """Publish now, or schedule a delayed publish when `scheduledFor` lies ahead; index what gets published.

        `job_id` identifies the delayed job this service enqueued earlier: that run publishes even if the
        clock of the machine running it is slightly behind the one that scheduled it.
        """
        now = utcnow()
        scheduled_for = payload.scheduledFor
        scheduled_run = scheduled_for is not None and job_id == idempotent_job_id(
            PUBLISH_JOB, schedule_key(payload.articleId, scheduled_for)
        )
        due = scheduled_for is None or scheduled_for <= now or scheduled_run
        delay_ms = 0 if due or scheduled_for is None else max(int((scheduled_for - now).total_seconds() * 1000), 1)
        if delay_ms > MAX_DELAY_MS:
            raise UnrecoverableJobError(f"scheduledFor: at most {MAX_DELAY_MS // 86_400_000} days ahead")
        publication = await asyncio.to_thread(
            self.store.mark,
            payload.articleId,
            list(payload.channels),
            scheduled_for,
            due=due,
            scheduled_run=scheduled_run,
            now=now,
        )
        result: dict[str, Any] = {
            "articleId": publication.article_id,
            "status": publication.state,
            "channels": publication.channels,
            "revision": publication.revision,
        }
        if publication.state == "published" and publication.published_at is not None:
            result["publishedAt"] = publication.published_at.isoformat()
            result["searchJobId"] = await self._index(publication, publication.published_at)
        elif publication.state == "scheduled" and publication.scheduled_for is not None:
            result["scheduledFor"] = publication.scheduled_for.isoformat()
            result["publishJobId"] = await self._schedule(publication, publication.scheduled_for, delay_ms)
        return result

    async def _index(self, publication: Publication, published_at: datetime) -> str:
        # One index job per published content: a retried or repeated publish does not index twice.
        key = f"{publication.article_id}:r{publication.revision}:{int(published_at.timestamp() * 1000)}"
        return await self.producer.enqueue(
            "search.index",
            {
                "docType": SEARCH_DOC_TYPE,
                "docId": publication.article_id,
                "title": publication.title or publication.article_id,
                "body": publication.body,
                "tags": publication.channels,
            },
            EnqueueOptions(idempotency_key=key),
        )

    async def _schedule(self, publication: Publication, scheduled_for: datetime, delay_ms: int) -> str:
        try:
            return await self.producer.enqueue(
                PUBLISH_JOB,
                {
                    "articleId": publication.article_id,
                    "scheduledFor": scheduled_for.isoformat(),
                    "channels": publication.channels,
                },
                EnqueueOptions(delay_ms=delay_ms, idempotency_key=schedule_key(publication.article_id, scheduled_for)),
            )
        except EnqueueError as exc:
            raise UnrecoverableJobError(f"cannot schedule publication: {exc}") from exc
