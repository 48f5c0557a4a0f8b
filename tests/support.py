"""Helpers shared by tests: a small registry of test job types and polling."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field

from corral.contracts.base import JobContract, JobType, QueueConfig, Registry, Retention
from corral.keys import Keys


class Echo(JobContract):
    """Test payload: a value to return, and how the handler should behave."""

    value: int = Field(ge=0, le=1_000_000)
    behaviour: str = Field(default="ok", pattern="^(ok|fail|fail-twice|unrecoverable|sleep)$")
    sleep_seconds: float = Field(default=0.0, ge=0, le=30)


def make_registry(
    *, attempts: int = 3, backoff_ms: int = 200, jitter: float = 0.0, timeout: float = 5.0, concurrency: int = 5
) -> Registry:
    """A registry with one queue `work` and one job type `test.echo`."""
    registry = Registry()
    registry.add_queue(
        QueueConfig(
            "work",
            attempts=attempts,
            backoff_ms=backoff_ms,
            backoff_jitter=jitter,
            concurrency=concurrency,
            timeout_seconds=timeout,
            keep_completed=Retention(10_000, 3_600),
            keep_failed=Retention(10_000, 3_600),
        )
    )
    registry.add_queue(QueueConfig("dlq"))
    registry.add_job(JobType("test.echo", "work", "test-worker", Echo))
    return registry


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds (generous: CI may be slow)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {result!r})")
        await asyncio.sleep(interval)


def prefixed_keys() -> Keys:
    """Corral's keys under this test's own prefix (set per test by the `_own_test` fixture)."""
    return Keys(os.environ["CORRAL_KEY_PREFIX"])
