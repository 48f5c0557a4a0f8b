"""Typed producer methods, one per catalogue job type, over a producer's generic `enqueue`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from corral.contracts.base import EnqueueOptions, JobContract
from corral_reference.contracts import (
    AiContentGenerate,
    AiContentRewrite,
    AiContentSummarize,
    AiSeoAnalyze,
    AiSeoMeta,
    AnalyticsEventsIngest,
    AnalyticsReport,
    AnalyticsRollup,
    ArticleAutosave,
    ArticlePublish,
    EmailOtp,
    EmailSend,
    PluginExecute,
    PluginWebhook,
    SearchIndex,
    SearchRemove,
    SystemCleanup,
    WorkflowRun,
    WorkflowStepJob,
)


class Enqueuer(Protocol):
    """Anything with Corral's generic enqueue: validate a payload for a job name, add it, return the job id."""

    async def enqueue(
        self, name: str, payload: JobContract | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str: ...


class CatalogueProducerMixin:
    """One typed method per catalogue job type; mix into a class that provides `enqueue`."""

    async def ai_content_generate(
        self: Enqueuer, payload: AiContentGenerate | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `ai.content.generate` job on the ai queue; returns its job id."""
        return await self.enqueue("ai.content.generate", payload, options)

    async def ai_content_rewrite(
        self: Enqueuer, payload: AiContentRewrite | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `ai.content.rewrite` job on the ai queue; returns its job id."""
        return await self.enqueue("ai.content.rewrite", payload, options)

    async def ai_content_summarize(
        self: Enqueuer, payload: AiContentSummarize | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `ai.content.summarize` job on the ai queue; returns its job id."""
        return await self.enqueue("ai.content.summarize", payload, options)

    async def ai_seo_analyze(
        self: Enqueuer, payload: AiSeoAnalyze | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `ai.seo.analyze` job on the ai queue; returns its job id."""
        return await self.enqueue("ai.seo.analyze", payload, options)

    async def ai_seo_meta(
        self: Enqueuer, payload: AiSeoMeta | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `ai.seo.meta` job on the ai queue; returns its job id."""
        return await self.enqueue("ai.seo.meta", payload, options)

    async def workflow_run(
        self: Enqueuer, payload: WorkflowRun | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `workflow.run` job on the workflows queue; returns its job id."""
        return await self.enqueue("workflow.run", payload, options)

    async def workflow_step(
        self: Enqueuer, payload: WorkflowStepJob | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `workflow.step` job on the workflows queue; returns its job id."""
        return await self.enqueue("workflow.step", payload, options)

    async def analytics_events_ingest(
        self: Enqueuer, payload: AnalyticsEventsIngest | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `analytics.events.ingest` job on the analytics queue; returns its job id."""
        return await self.enqueue("analytics.events.ingest", payload, options)

    async def analytics_rollup(
        self: Enqueuer, payload: AnalyticsRollup | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `analytics.rollup` job on the analytics queue; returns its job id."""
        return await self.enqueue("analytics.rollup", payload, options)

    async def analytics_report(
        self: Enqueuer, payload: AnalyticsReport | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `analytics.report` job on the analytics queue; returns its job id."""
        return await self.enqueue("analytics.report", payload, options)

    async def email_send(
        self: Enqueuer, payload: EmailSend | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `email.send` job on the email queue; returns its job id."""
        return await self.enqueue("email.send", payload, options)

    async def email_otp(
        self: Enqueuer, payload: EmailOtp | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `email.otp` job on the email queue; returns its job id."""
        return await self.enqueue("email.otp", payload, options)

    async def plugin_execute(
        self: Enqueuer, payload: PluginExecute | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `plugin.execute` job on the plugins queue; returns its job id."""
        return await self.enqueue("plugin.execute", payload, options)

    async def plugin_webhook(
        self: Enqueuer, payload: PluginWebhook | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `plugin.webhook` job on the plugins queue; returns its job id."""
        return await self.enqueue("plugin.webhook", payload, options)

    async def search_index(
        self: Enqueuer, payload: SearchIndex | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `search.index` job on the system queue; returns its job id."""
        return await self.enqueue("search.index", payload, options)

    async def search_remove(
        self: Enqueuer, payload: SearchRemove | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `search.remove` job on the system queue; returns its job id."""
        return await self.enqueue("search.remove", payload, options)

    async def article_publish(
        self: Enqueuer, payload: ArticlePublish | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `article.publish` job on the system queue; returns its job id."""
        return await self.enqueue("article.publish", payload, options)

    async def article_autosave(
        self: Enqueuer, payload: ArticleAutosave | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `article.autosave` job on the system queue; returns its job id."""
        return await self.enqueue("article.autosave", payload, options)

    async def system_cleanup(
        self: Enqueuer, payload: SystemCleanup | Mapping[str, Any], options: EnqueueOptions | None = None
    ) -> str:
        """Validate and enqueue one `system.cleanup` job on the system queue; returns its job id."""
        return await self.enqueue("system.cleanup", payload, options)
