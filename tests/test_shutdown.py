"""Graceful shutdown and stalled-job recovery, with real worker processes and signals."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

from corral.engine import Engine
from corral.handlers import HandlerSet, JobContext

from support import Echo, eventually, make_registry

WORKER = Path(__file__).parent / "processes" / "test_worker.py"


def spawn(url: str, grace: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(WORKER), url, "sleep", str(grace)])


async def _state(engine: Engine, job_id: str) -> str:
    job = await engine.get_job("work", job_id)
    return job.state if job else "missing"


async def test_sigterm_lets_the_active_job_finish_then_exits(valkey_url, make_producer, engine) -> None:
    # Given a worker process running a 1.5 s job
    producer = make_producer(make_registry())
    job_id = await producer.enqueue("test.echo", {"value": 9, "behaviour": "sleep", "sleep_seconds": 1.5})
    worker = spawn(valkey_url, grace=10)
    await eventually(lambda: _is(engine, job_id, "active"))
    # When it receives SIGTERM mid-job
    worker.send_signal(signal.SIGTERM)
    # And a job is enqueued once the signal has been handled
    await asyncio.sleep(0.4)
    later = await producer.enqueue("test.echo", {"value": 10})
    # Then the process exits cleanly once the active job completed, without taking new work
    code = await asyncio.to_thread(worker.wait, 20)
    assert code == 0
    assert await _state(engine, job_id) == "completed"
    assert await _state(engine, later) == "waiting"


async def test_active_job_past_the_deadline_is_left_to_stalled_recovery(
    valkey_url, make_producer, engine, start_runtime
) -> None:
    # Given a worker whose shutdown deadline (0.5 s) is shorter than its 30 s job
    producer = make_producer(make_registry())
    job_id = await producer.enqueue("test.echo", {"value": 9, "behaviour": "sleep", "sleep_seconds": 30})
    worker = spawn(valkey_url, grace=0.5)
    await eventually(lambda: _is(engine, job_id, "active"))
    # When it is told to stop
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.wait, 20)
    # Then it exits soon after the deadline, leaving the job active (neither completed nor failed)
    assert code == 0
    assert time.monotonic() - started < 8
    assert await _state(engine, job_id) == "active"
    # And another worker recovers the stalled job and completes it
    finished: list[str] = []
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def quick(ctx: JobContext, payload: Echo) -> dict[str, int]:
        finished.append(ctx.job_id)
        return {"value": payload.value}

    await start_runtime(make_registry(), handlers)
    await eventually(lambda: _is(engine, job_id, "completed"), timeout=15)
    assert finished == [job_id]


async def _is(engine: Engine, job_id: str, state: str) -> bool:
    return await _state(engine, job_id) == state
