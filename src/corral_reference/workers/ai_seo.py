"""The ai-seo worker: `ai.seo.analyze` writes an SEO report, `ai.seo.meta` derives description, slug and keywords."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference import seo
from corral_reference.contracts import AiSeoAnalyze, AiSeoMeta


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the two ai.seo handlers; both run locally (no provider), off the event loop."""

    async def analyze(ctx: JobContext, payload: AiSeoAnalyze) -> dict[str, Any]:
        report = await asyncio.to_thread(seo.analyze, payload.title, payload.body, payload.focusKeyword)
        return {"articleId": payload.articleId, **report}

    async def meta(ctx: JobContext, payload: AiSeoMeta) -> dict[str, Any]:
        fields = await asyncio.to_thread(seo.meta_fields, payload.title, payload.body)
        return {"articleId": payload.articleId, **asdict(fields)}

    handlers.add("ai.seo.analyze", analyze)
    handlers.add("ai.seo.meta", meta)
