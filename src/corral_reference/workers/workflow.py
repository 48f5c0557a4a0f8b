"""The workflow worker: `workflow.run` coordinates a run's steps, `workflow.step` runs a built-in step."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.contracts import WorkflowRun, WorkflowStepJob
from corral_reference.settings import ReferenceSettings
from corral_reference.workflows.coordinator import Coordinator
from corral_reference.workflows.http_action import HttpAction
from corral_reference.workflows.state import RunStore
from corral_reference.workflows.step_runner import StepRunner


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `workflow.run` and `workflow.step` handlers, with an HTTP client closed at shutdown."""
    settings = ReferenceSettings.of(services.settings)
    coordinator = Coordinator(services.producer.registry, RunStore(services.redis, services.keys))
    http = HttpAction(timeout_seconds=settings.webhook_timeout_seconds, allow_private=settings.webhook_allow_private)
    services.on_close(http.close)
    runner = StepRunner(http)

    async def run_workflow(ctx: JobContext, payload: WorkflowRun) -> dict[str, Any]:
        return await coordinator.coordinate(ctx.job, payload)

    async def run_step(ctx: JobContext, payload: WorkflowStepJob) -> dict[str, Any]:
        return await runner.run(payload)

    handlers.add("workflow.run", run_workflow)
    handlers.add("workflow.step", run_step)
