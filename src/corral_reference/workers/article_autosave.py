"""The article-autosave worker: `article.autosave` stores a revision; older never overwrites newer."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.articles import ArticleService, ArticleStore
from corral_reference.contracts import ArticleAutosave


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `article.autosave` handler, backed by the process's SQL store."""

    async def autosave(_ctx: JobContext, payload: ArticleAutosave) -> dict[str, Any]:
        return await ArticleService(ArticleStore(services.database), services.producer).autosave(payload)

    handlers.add("article.autosave", autosave)
