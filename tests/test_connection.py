"""Corral's Redis clients let a task be cancelled while it waits on Redis (job timeouts, shutdown depend on it)."""

from __future__ import annotations

import asyncio

from corral.connection import redis_client


async def test_cancelling_a_task_busy_with_redis_always_cancels_it(valkey_url) -> None:
    # Given a task that keeps calling Redis (redis-py's default socket timeout loses such cancels on 3.11)
    client = redis_client(valkey_url)
    lost = 0
    try:
        for _ in range(100):

            async def busy() -> None:
                for _ in range(5_000):
                    await client.get("corral:test:missing")

            task = asyncio.create_task(busy())
            await asyncio.sleep(0.002)
            # When it is cancelled mid-call
            task.cancel()
            try:
                await asyncio.wait_for(task, 10)
                lost += 1
            except asyncio.CancelledError:
                pass
    finally:
        await client.aclose()
    # Then every cancel took effect
    assert lost == 0
