"""The worker runtime: consumes queues, validates, dispatches by job name, enforces timeouts, emits hooks."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from corral import logredact
from corral.connection import redis_client
from corral.contracts.base import Registry, field_errors
from corral.contracts.secrets import secret_values
from corral.engine import DeadLetterSink, FailureNotice, QueueConsumer, RunningJob, WaitingForChildren
from corral.errors import ContractViolationError, JobTimeoutError, NoHandlerError
from corral.handlers import Handler, JobContext
from corral.hooks import HookBus, JobEvent, JobEventKind
from corral.keys import Keys
from corral.releases import Releases
from corral.settings import Settings
from corral.tracing import attempt_span

logger = logging.getLogger(__name__)


class DeadLetterFactory(Protocol):
    """Builds the runtime's dead-letter sink on its Redis client (the DLQ store class is one): each job's final
    failure is captured there, tagged with the worker's release, in the same MULTI/EXEC as its move to failed."""

    def __call__(self, redis: Redis, keys: Keys, registry: Registry, *, release: str) -> DeadLetterSink: ...


class Runtime:
    """Runs handlers for the jobs of one or more queues in this process."""

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        registry: Registry,
        handlers: Mapping[str, Handler],
        *,
        queues: Sequence[str] | None = None,
        dlq: DeadLetterFactory,
        hooks: HookBus | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.registry = registry
        self.handlers = handlers
        self.queues = list(queues) if queues else registry.work_queues
        for name in self.queues:
            registry.queue(name)  # refuses unknown queues before anything starts
        self.hooks = hooks or HookBus()
        self.services = services or {}
        self.keys = Keys.for_server(settings.key_prefix, redis_url, registry.hash_tags)
        self.redis: Redis = redis_client(redis_url)
        self.dlq = dlq(self.redis, self.keys, registry, release=settings.release)
        self._consumers: list[QueueConsumer] = []
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        """Record the release this worker runs (when it is told one), then start one consumer per queue."""
        if self.settings.release:
            await Releases(self.redis, self.keys).mark(
                self.settings.release, f"worker:{socket.gethostname()}:{os.getpid()}", "worker"
            )
        for name in self.queues:
            consumer = QueueConsumer(
                redis_url=self.redis_url,
                redis=self.redis,
                keys=self.keys,
                config=self.registry.queue(name),
                dlq=self.dlq,
                process=self.process,
                on_failure=self._failed,
                on_stalled=self._stalled,
                lock_duration_ms=self.settings.lock_duration_ms,
                stalled_interval_ms=self.settings.stalled_interval_ms,
                redact=self.registry.redacted,
            )
            await consumer.start()
            self._consumers.append(consumer)
        logger.info("worker runtime consuming %s", ", ".join(self.queues))

    async def close(self, grace_seconds: float | None = None) -> None:
        """Run the closers, stop fetching, give active jobs `grace_seconds` to finish, then close connections."""
        grace = self.settings.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        while self._closers:
            try:
                await self._closers.pop()()
            except Exception:
                logger.exception("a closer failed while the runtime closed")
        await asyncio.gather(*(consumer.close(grace) for consumer in self._consumers))
        self._consumers.clear()
        await self.redis.aclose()
        self._stopped.set()

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run `closer` first when the runtime closes, while its Redis client is still open (last registered, first
        run); an observer's background work stops there."""
        self._closers.append(closer)

    async def run_until_signalled(self) -> None:
        """Start, run until SIGTERM or SIGINT, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
            logger.info("shutting down: waiting up to %.0fs for active jobs", self.settings.shutdown_grace_seconds)
        finally:
            # The handlers stay installed while closing: a second signal (Ctrl-C reaches the whole process group,
            # then `corral up` forwards SIGTERM) must not kill the process while its jobs finish.
            await self.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    @property
    def active_jobs(self) -> int:
        """Jobs being processed right now in this process."""
        return sum(consumer.active_count for consumer in self._consumers)

    async def process(self, job: RunningJob) -> Any:
        """Validate the payload, run the job's handler under the queue's timeout, and return its result; in a span
        that continues the enqueuer's trace when OpenTelemetry is installed."""
        async with attempt_span(
            job.name, job.queue, job.id, job.attempt, job.trace, job.trace_link, suspended=(WaitingForChildren,)
        ):
            return await self._process(job)

    async def _process(self, job: RunningJob) -> Any:
        job_type = self.registry.jobs.get(job.name)
        if job_type is None or job_type.queue != job.queue:
            raise NoHandlerError(f"no job type {job.name!r} is registered on queue {job.queue!r}")
        try:
            payload = job_type.contract.model_validate(job.data)
        except ValidationError as exc:
            raise ContractViolationError(field_errors(exc)) from None
        handler = self.handlers.get(job.name)
        if handler is None:
            raise NoHandlerError(f"no handler for job type {job.name!r} in this worker")
        if self.hooks.wants(JobEventKind.STARTED):
            await self.hooks.emit(
                JobEvent(JobEventKind.STARTED, job.queue, job.id, job.name, job.attempt, detail=self._release())
            )
        timeout = self.registry.queue(job.queue).timeout_seconds
        try:
            async with asyncio.timeout(timeout) as deadline:
                job.on_progress = self._progressed
                # A line the handler (or a library it calls) logs has the payload's secret values redacted.
                with logredact.job_secrets(secret_values(job.data, self.registry.secret_paths(job.name))):
                    result = await handler(JobContext(job, self.services), payload)
        except TimeoutError:
            if deadline.expired():
                raise JobTimeoutError(f"timed out after {timeout:g}s") from None
            raise
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json", by_alias=True)
        if self.hooks.wants(JobEventKind.COMPLETED):
            await self.hooks.emit(
                JobEvent(JobEventKind.COMPLETED, job.queue, job.id, job.name, job.attempt, detail=self._release())
            )
        return result

    def _release(self) -> dict[str, Any]:
        """What an attempt's events carry of the release this worker runs (nothing when it was not told)."""
        return {"release": self.settings.release} if self.settings.release else {}

    async def _failed(self, notice: FailureNotice) -> None:
        job = notice.job
        detail: dict[str, Any] = {"reason": notice.reason, "final": notice.final, **self._release()}
        await self.hooks.emit(JobEvent(JobEventKind.FAILED, job.queue, job.id, job.name, job.attempt, detail=detail))
        if notice.final:
            await self.hooks.emit(
                JobEvent(
                    JobEventKind.DEAD_LETTERED,
                    job.queue,
                    job.id,
                    job.name,
                    job.attempt,
                    detail={"reason": notice.reason, "entry_id": notice.dlq_entry_id, **self._release()},
                )
            )
        elif notice.retry_delay_ms:
            await self.hooks.emit(
                JobEvent(
                    JobEventKind.DELAYED,
                    job.queue,
                    job.id,
                    job.name,
                    job.attempt,
                    detail={"delay_ms": notice.retry_delay_ms},
                )
            )

    async def _progressed(self, job: RunningJob, value: Any) -> None:
        if self.hooks.wants(JobEventKind.PROGRESS):
            detail = {"progress": value if isinstance(value, int | float) else dict(value)}
            await self.hooks.emit(
                JobEvent(JobEventKind.PROGRESS, job.queue, job.id, job.name, job.attempt, detail=detail)
            )

    async def _stalled(self, queue: str, job_id: str) -> None:
        await self.hooks.emit(JobEvent(JobEventKind.STALLED, queue, job_id))
