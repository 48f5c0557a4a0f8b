"""The ai-content worker: `ai.content.generate`, `.rewrite` and `.summarize` through the configured AI provider."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.ai import GenerateRequest, build_provider
from corral_reference.contracts import AiContentGenerate, AiContentRewrite, AiContentSummarize


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the three ai.content handlers; the provider is local unless `ai_url` names an endpoint."""
    provider = build_provider(services.settings)
    services.on_close(provider.close)

    async def generate(ctx: JobContext, payload: AiContentGenerate) -> dict[str, Any]:
        request = GenerateRequest(payload.prompt, payload.tone, payload.maxWords, payload.locale)
        result = await provider.generate(request)
        return {"articleId": payload.articleId, **result.as_dict()}

    async def rewrite(ctx: JobContext, payload: AiContentRewrite) -> dict[str, Any]:
        result = await provider.rewrite(payload.text, payload.instruction)
        return {"articleId": payload.articleId, **result.as_dict()}

    async def summarize(ctx: JobContext, payload: AiContentSummarize) -> dict[str, Any]:
        result = await provider.summarize(payload.text, payload.maxSentences)
        return {"articleId": payload.articleId, **result.as_dict()}

    handlers.add("ai.content.generate", generate)
    handlers.add("ai.content.rewrite", rewrite)
    handlers.add("ai.content.summarize", summarize)
