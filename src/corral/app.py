"""A Corral application: the queues, job types and handlers of one service, declared in one object.

    app = Corral("reports-service")
    app.add_queue(QueueConfig("reports", concurrency=5, attempts=3))

    @app.job("reports.build", queue="reports")
    async def build_report(ctx: JobContext, payload: BuildReport) -> dict: ...

Every `corral` command serves the application named by `--app module:attr` or `CORRAL_APP`; several applications
combine with `include`. Handlers that need per-process resources (a database, an HTTP client) are registered by a
function given to `on_worker`, called once per worker process with its `WorkerServices`.
"""

from __future__ import annotations

import importlib
import inspect
import random
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from corral.contracts.base import JobContract, JobType, QueueConfig, Registry, Retention
from corral.errors import ConfigurationError
from corral.handlers import Handler, HandlerSet
from corral.sql.migrate import AppMigrations

if TYPE_CHECKING:
    from corral.producer import BulkItem, Producer
    from corral.worker_services import WorkerServices

F = TypeVar("F", bound=Handler)
WorkerSetup = Callable[[HandlerSet, "WorkerServices"], None]
DemoTraffic = Callable[[random.Random, float], Iterator["BulkItem"]]

DEFAULT_APP = "corral_reference:app"
_DAY = 86_400
# The platform's own queue: it holds no work, its retention says how long dead letters are kept.
DLQ_QUEUE = QueueConfig(
    name="dlq",
    attempts=1,
    backoff_ms=0,
    concurrency=1,
    keep_completed=Retention(count=10_000, age_seconds=30 * _DAY),
    keep_failed=Retention(count=10_000, age_seconds=30 * _DAY),
)


class Corral:
    """One application's queues, job types and handlers; what the `corral` commands serve."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.registry = Registry()
        self.registry.add_queue(DLQ_QUEUE)
        self._handlers: dict[str, Handler] = {}
        self._worker_setups: list[WorkerSetup] = []
        self.demo_traffic: DemoTraffic | None = None
        self.migrations: list[AppMigrations] = []

    def add_migrations(self, versions: Path, version_table: str) -> None:
        """Declare the app's own tables: Alembic revisions in `versions`, recorded in `version_table`; every command
        that migrates the SQL store runs them after the platform's."""
        self.migrations.append(AppMigrations(versions, version_table))

    def add_queue(self, config: QueueConfig) -> None:
        """Declare a queue (attempts, backoff, concurrency, timeout, rate limit, retention)."""
        self.registry.add_queue(config)

    def add_job(self, job_type: JobType, handler: Handler | None = None) -> None:
        """Declare a job type on one of the app's queues, with its handler if it needs no per-process setup."""
        self.registry.add_job(job_type)
        if handler is not None:
            self._handlers[job_type.name] = handler

    def job(
        self, name: str, *, queue: str, contract: type[JobContract] | None = None, worker: str | None = None
    ) -> Callable[[F], F]:
        """Decorator: declare job type `name` on `queue`, run by the decorated `async def handler(ctx, payload)`.

        The payload's contract is the handler's annotation of its second parameter unless given.
        """

        def register(handler: F) -> F:
            model = contract or _payload_annotation(name, handler)
            self.add_job(JobType(name, queue, worker or name, model), handler)
            return handler

        return register

    def on_worker(self, setup: WorkerSetup) -> WorkerSetup:
        """Register `setup(handlers, services)`, called in each worker process to add handlers needing services."""
        self._worker_setups.append(setup)
        return setup

    def include(self, other: Corral) -> None:
        """Take in another application's queues, job types, handlers and worker setups."""
        for config in other.registry.queues.values():
            known = self.registry.queues.get(config.name)
            if known is not None and known != config and config.name != DLQ_QUEUE.name:
                raise ConfigurationError(
                    f"queue {config.name!r} is declared differently by {self.name} and {other.name}"
                )
            if known is None:
                self.registry.add_queue(config)
        for job_type in other.registry.jobs.values():
            self.registry.add_job(job_type)
        self._handlers.update(other._handlers)
        self._worker_setups.extend(other._worker_setups)
        if self.demo_traffic is None:
            self.demo_traffic = other.demo_traffic
        self.migrations.extend(found for found in other.migrations if found not in self.migrations)

    def handlers(self, services: WorkerServices) -> HandlerSet:
        """Every handler of the app for one worker process."""
        handlers = HandlerSet()
        for name, handler in self._handlers.items():
            handlers.add(name, handler)
        for setup in self._worker_setups:
            setup(handlers, services)
        return handlers

    def producer(self, redis_url: str, *, key_prefix: str = "corral") -> Producer:
        """A producer of the app's job types on one server; `await producer.close()` when done."""
        from corral.engine import Engine
        from corral.keys import Keys
        from corral.producer import Producer

        return Producer(
            Engine(redis_url, Keys.for_server(key_prefix, redis_url, self.registry.hash_tags)), self.registry
        )


def _payload_annotation(name: str, handler: Handler) -> type[JobContract]:
    parameters = list(inspect.signature(handler).parameters)
    hints = typing.get_type_hints(handler)
    model = hints.get(parameters[1]) if len(parameters) >= 2 else None
    if not (isinstance(model, type) and issubclass(model, JobContract)):
        raise ConfigurationError(
            f"job {name!r}: annotate the handler's payload parameter with its JobContract, or pass contract="
        )
    return model


def load_app(spec: str) -> Corral:
    """The application named `module:attribute` (the attribute may be a Corral or a function returning one)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"app {spec!r}: expected module:attribute, for example myservice.jobs:app")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"app {spec!r}: cannot import {module_name!r}: {exc}") from None
    found: Any = getattr(module, attribute, None)
    if callable(found) and not isinstance(found, Corral):
        found = found()
    if not isinstance(found, Corral):
        raise ConfigurationError(f"app {spec!r}: {attribute!r} is not a Corral application")
    return found
