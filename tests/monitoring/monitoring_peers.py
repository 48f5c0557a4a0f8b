"""Monitored worker processes for monitoring tests: a runtime with the monitoring observer, on the real Valkey."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from corral.contracts.base import JobType, QueueConfig, Registry
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine
from corral.errors import JobFailure, UnrecoverableJobError
from corral.handlers import HandlerSet, JobContext
from corral.hooks import HookBus
from corral.keys import Keys
from corral.monitoring import Monitoring, observe_monitoring
from corral.producer import Producer
from corral.runtime import Runtime
from corral.settings import Settings
from corral.worker_services import WorkerServices

from support import Echo, make_registry

FAST = {
    "metrics_flush_seconds": 0.1,
    "worker_heartbeat_seconds": 0.2,
    "worker_lost_seconds": 1.0,
    "alert_interval_seconds": 0.3,
    "alert_cooldown_seconds": 0.0,
    "stats_cache_seconds": 10.0,
    "health_cache_seconds": 60.0,
}

PROCESS = Path(__file__).with_name("monitored_worker_process.py")


def spawn_worker(valkey_url: str, queues: str, **settings: object) -> subprocess.Popen[bytes]:
    """A real worker process (runtime and monitoring observer) consuming `queues`, with fast monitoring settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env["CORRAL_KEY_PREFIX"] = os.environ["CORRAL_KEY_PREFIX"]  # the test's own prefix
    for name, value in {**FAST, **settings}.items():
        env[f"CORRAL_{name.upper()}"] = str(value)
    return subprocess.Popen([sys.executable, str(PROCESS), valkey_url, queues], env=env)


def two_queue_registry(**options: Any) -> Registry:
    """The test registry (`work`, job `test.echo`) plus a queue `other` with job `test.other`."""
    registry = make_registry(**options)
    registry.add_queue(QueueConfig("other"))
    registry.add_job(JobType("test.other", "other", "test-worker", Echo))
    return registry


def echo_handlers() -> HandlerSet:
    """`test.echo`: ok, fail (every attempt), unrecoverable, or sleep for `sleep_seconds`."""
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, Any]:
        if payload.behaviour == "fail":
            raise JobFailure(f"provider timed out after {payload.value} ms")
        if payload.behaviour == "unrecoverable":
            raise UnrecoverableJobError(f"account {payload.value} is closed")
        if payload.behaviour == "sleep":
            await asyncio.sleep(payload.sleep_seconds)
        return {"value": payload.value}

    handlers.add("test.other", echo)
    return handlers


@dataclass
class MonitoredWorker:
    """A worker runtime with metrics recording, heartbeat and alert evaluation, as `corral worker` runs it."""

    runtime: Runtime
    services: WorkerServices
    stopped: bool = False

    async def stop(self) -> None:
        """Shut down like a worker told to stop: the runtime, then its services (heartbeat leaves the registry)."""
        if not self.stopped:
            self.stopped = True
            await self.runtime.close(grace_seconds=2)
            await self.services.close()


@pytest.fixture
def monitoring_settings(settings: Settings) -> Settings:
    """Test settings with fast flushes, heartbeats and alert evaluation."""
    return settings.model_copy(update=FAST)


@pytest.fixture
async def start_worker(
    monitoring_settings: Settings, valkey_url: str, engine: Engine
) -> AsyncIterator[Callable[..., Any]]:
    """Factory: start a monitored worker for a registry; every worker is stopped after the test."""
    started: list[MonitoredWorker] = []

    async def start(
        registry: Registry,
        handlers: HandlerSet | None = None,
        *,
        queues: Sequence[str] | None = None,
        settings: Settings | None = None,
    ) -> MonitoredWorker:
        configured = settings or monitoring_settings
        client = Redis.from_url(valkey_url, decode_responses=True)
        services = WorkerServices(configured, client, Producer(engine, registry), Keys(configured.key_prefix))
        services.on_close(client.aclose)
        hooks = HookBus()
        runtime = Runtime(
            configured,
            valkey_url,
            registry,
            handlers or echo_handlers(),
            queues=queues,
            dlq=DeadLetterStore,
            hooks=hooks,
        )
        observe_monitoring(hooks, services, runtime)
        await runtime.start()
        worker = MonitoredWorker(runtime, services)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


@pytest.fixture
def monitoring_for(
    monitoring_settings: Settings, redis_client: Redis, keys: Keys, engine: Engine
) -> Callable[..., Monitoring]:
    """Factory: the monitoring services of a reader process, for a registry."""

    def build(registry: Registry, settings: Settings | None = None) -> Monitoring:
        return Monitoring.build(settings or monitoring_settings, redis_client, keys, engine, registry)

    return build
