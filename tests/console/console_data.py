"""Data for console tests: jobs enqueued through the API, jobs failed by a real worker, dead-lettered entries."""

from __future__ import annotations

import time
from typing import Any

import httpx
from redis.asyncio import Redis

from console.console_peers import LoopThread, start_worker, stop_worker
from corral.dlq.service import DlqService
from corral.engine import Engine
from corral.errors import UnrecoverableJobError
from corral.handlers import JobContext
from corral.settings import Settings
from corral_reference.contracts import default_registry
from dlq.dlq_peers import DeadJobs

from support import prefixed_keys

SCRIPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def email(to: str, subject: str = "Weekly digest", **extra: Any) -> dict[str, Any]:
    """A valid email.send payload."""
    return {"to": [to], "subject": subject, "text": "hello", **extra}


def enqueue(owner: httpx.Client, name: str, payload: dict[str, Any], **options: Any) -> str:
    """Enqueue through the API; the job id."""
    answer = owner.post("/owner/jobs", json={"name": name, "payload": payload, **options})
    assert answer.status_code == 201, answer.text
    job_id: str = answer.json()["id"]
    return job_id


async def _refuse(context: JobContext, payload: Any) -> Any:
    await context.log(f"refusing job {context.job_id}")
    await context.progress(40)
    raise UnrecoverableJobError(f"mailbox {payload.to[0]} does not exist <b>550</b>")


def fail_jobs(background: LoopThread, settings: Settings, redis_url: str, owner: httpx.Client, count: int) -> list[str]:
    """Jobs of email.send that a real worker runs and fails unrecoverably (so they are failed and dead-lettered)."""
    registry = default_registry()
    ids = [enqueue(owner, "email.send", email(f"ghost{n}@example.com", f"Failing {n}")) for n in range(count)]
    runtime = start_worker(background, settings, redis_url, registry, {"email.send": _refuse})
    try:
        deadline = time.monotonic() + 60
        while owner.get("/owner/queues/email").json()["counts"].get("failed", 0) < count:
            assert time.monotonic() < deadline, "the worker did not fail the jobs"
            time.sleep(0.1)
    finally:
        stop_worker(background, runtime)
    return ids


class DeadLetters:
    """Dead-lettered entries captured by the DLQ's own capture script (the DLQ tests' helper), on the loop thread."""

    def __init__(self, background: LoopThread, redis_url: str) -> None:
        self.background = background
        self.redis = Redis.from_url(redis_url, decode_responses=True)
        self.engine = Engine(redis_url, prefixed_keys())
        self.service = DlqService(self.redis, prefixed_keys(), self.engine, default_registry())
        self.jobs = DeadJobs(self.redis, self.service, prefixed_keys())

    def add(self, name: str, data: dict[str, Any], reason: str, **kwargs: Any) -> str:
        return self.background.run(self.jobs.add(name, data, reason, **kwargs))

    def close(self) -> None:
        async def close() -> None:
            await self.service.close()
            await self.engine.close()
            await self.redis.aclose()

        self.background.run(close())
