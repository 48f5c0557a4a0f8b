"""The article-publish worker: `article.publish` publishes now or schedules, and triggers `search.index`."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.articles import ArticleService, ArticleStore
from corral_reference.contracts import ArticlePublish


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `article.publish` handler, backed by the process's SQL store and producer."""

    async def publish(ctx: JobContext, payload: ArticlePublish) -> dict[str, Any]:
        service = ArticleService(ArticleStore(services.database), services.producer)
        return await service.publish(payload, job_id=ctx.job_id)

    handlers.add("article.publish", publish)
