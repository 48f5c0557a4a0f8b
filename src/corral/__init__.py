"""Corral: typed job contracts, BullMQ workers, a dead-letter queue and an owner console.

The public API: an application declares its queues, job types and handlers in one `Corral` object.

    from corral import Corral, JobContext, JobContract, QueueConfig

    app = Corral("reports-service")
    app.add_queue(QueueConfig("reports", concurrency=5, attempts=3))

    class BuildReport(JobContract):
        reportId: str

    @app.job("reports.build", queue="reports")
    async def build_report(ctx: JobContext, payload: BuildReport) -> dict: ...

Run it with `corral --app myservice:app up` (or `worker`, `enqueue`, `dlq`, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Corral",
    "EnqueueOptions",
    "JobContext",
    "JobContract",
    "JobFailure",
    "JobType",
    "QueueConfig",
    "RateLimit",
    "Retention",
    "Secret",
    "UnrecoverableJobError",
    "__version__",
]

if TYPE_CHECKING:
    from corral.app import Corral
    from corral.contracts.base import EnqueueOptions, JobContract, JobType, QueueConfig, RateLimit, Retention
    from corral.contracts.secrets import Secret
    from corral.errors import JobFailure, UnrecoverableJobError
    from corral.handlers import JobContext

_EXPORTS = {
    "Corral": "corral.app",
    "EnqueueOptions": "corral.contracts.base",
    "JobContract": "corral.contracts.base",
    "JobType": "corral.contracts.base",
    "QueueConfig": "corral.contracts.base",
    "RateLimit": "corral.contracts.base",
    "Retention": "corral.contracts.base",
    "Secret": "corral.contracts.secrets",
    "JobFailure": "corral.errors",
    "UnrecoverableJobError": "corral.errors",
    "JobContext": "corral.handlers",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that `import corral` (the CLI, `python -m corral`) stays cheap and free of cycles.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'corral' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
