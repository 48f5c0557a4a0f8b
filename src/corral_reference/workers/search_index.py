"""The search-index worker: `search.index` upserts a document into the full-text index, `search.remove` drops it."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.contracts import SearchIndex as SearchIndexPayload
from corral_reference.contracts import SearchRemove
from corral_reference.search import SearchDocument, open_search_index


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the search handlers over the index `search_url` chooses (SQLite FTS5 when empty)."""
    index = open_search_index(services.settings)
    services.on_close(index.close)

    async def index_document(ctx: JobContext, payload: SearchIndexPayload) -> dict[str, Any]:
        document = SearchDocument(
            payload.docType, payload.docId, payload.title, payload.body, list(payload.tags), payload.url
        )
        await index.index(document)
        return {"docType": payload.docType, "docId": payload.docId, "indexed": True}

    async def remove_document(ctx: JobContext, payload: SearchRemove) -> dict[str, Any]:
        removed = await index.remove(payload.docType, payload.docId)
        return {"docType": payload.docType, "docId": payload.docId, "removed": removed}

    handlers.add("search.index", index_document)
    handlers.add("search.remove", remove_document)
