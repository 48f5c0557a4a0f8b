"""The plugin-execute worker: `plugin.execute` runs a plugin hook, `plugin.webhook` posts a signed event."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.contracts import PluginExecute, PluginWebhook
from corral_reference.plugins.runner import PluginRunner
from corral_reference.plugins.webhook import WebhookSender
from corral_reference.settings import ReferenceSettings


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `plugin.execute` and `plugin.webhook` handlers."""
    runner = PluginRunner(memory_mb=ReferenceSettings.of(services.settings).plugin_memory_mb)
    sender = WebhookSender.from_settings(services.settings)
    services.on_close(sender.close)

    async def execute_plugin(ctx: JobContext, payload: PluginExecute) -> dict[str, Any]:
        run = await runner.run(payload.pluginId, payload.hook, dict(payload.payload), payload.timeoutMs)
        return {"pluginId": run.plugin_id, "hook": run.hook, "result": run.result, "durationMs": run.duration_ms}

    async def post_webhook(ctx: JobContext, payload: PluginWebhook) -> dict[str, Any]:
        delivery = await sender.deliver(
            url=payload.url,
            plugin_id=payload.pluginId,
            event=payload.event,
            body=dict(payload.body),
            delivery_id=f"{ctx.job.queue}:{ctx.job_id}",
            secret_ref=payload.secretRef,
        )
        return {
            "status": delivery.status,
            "deliveryId": delivery.delivery_id,
            "signed": delivery.signed,
            "durationMs": delivery.duration_ms,
        }

    handlers.add("plugin.execute", execute_plugin)
    handlers.add("plugin.webhook", post_webhook)
