"""Graceful shutdown and stalled-job recovery, with real worker processes and signals."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from corral.engine import Engine
from corral.handlers import HandlerSet, JobContext

from owned_processes import OutputWatcher, ProcessGroup
from processes.test_worker import release_key
from support import Echo, eventually, make_registry

WORKER = Path(__file__).parent / "processes" / "test_worker.py"


def spawn(
    processes: ProcessGroup, url: str, grace: float, mode: str = "sleep"
) -> tuple[subprocess.Popen[str], OutputWatcher]:
    process = processes.spawn([sys.executable, str(WORKER), url, mode, str(grace)], stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    return process, OutputWatcher(process.stderr)


async def _state(engine: Engine, job_id: str) -> str:
    job = await engine.get_job("work", job_id)
    return job.state if job else "missing"


async def test_sigterm_lets_the_active_job_finish_then_exits(
    valkey_url, make_producer, engine, processes, redis_client, keys
) -> None:
    # Given a worker process running a job that lasts until the test releases it
    producer = make_producer(make_registry())
    job_id = await producer.enqueue("test.echo", {"value": 9})
    worker, output = spawn(processes, valkey_url, grace=120, mode="hold")
    await eventually(lambda: _is(engine, job_id, "active"), timeout=60)
    # When it receives SIGTERM mid-job
    worker.send_signal(signal.SIGTERM)
    # And a job is enqueued once the worker says it takes no new jobs
    await asyncio.to_thread(output.wait_for, "queue work: taking no new jobs", 60)
    later = await producer.enqueue("test.echo", {"value": 10})
    await redis_client.set(release_key(keys.prefix), "1")
    # Then the process exits cleanly once the active job completed, without taking new work
    code = await asyncio.to_thread(worker.wait, 60)
    assert code == 0
    assert await _state(engine, job_id) == "completed"
    assert await _state(engine, later) == "waiting", output.text()


async def test_active_job_past_the_deadline_is_left_to_stalled_recovery(
    valkey_url, make_producer, engine, start_runtime, processes
) -> None:
    # Given a worker whose shutdown deadline (0.5 s) is shorter than its 30 s job
    producer = make_producer(make_registry())
    job_id = await producer.enqueue("test.echo", {"value": 9, "behaviour": "sleep", "sleep_seconds": 30})
    worker, output = spawn(processes, valkey_url, grace=0.5)
    await eventually(lambda: _is(engine, job_id, "active"), timeout=60)
    # When it is told to stop
    worker.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(worker.wait, 60)
    # Then it exits after the deadline, saying it left the job to stalled-job recovery; the job is still active
    assert code == 0
    assert "leaving them to stalled-job recovery" in output.text()
    assert await _state(engine, job_id) == "active"
    # And another worker recovers the stalled job and completes it
    finished: list[str] = []
    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def quick(ctx: JobContext, payload: Echo) -> dict[str, int]:
        finished.append(ctx.job_id)
        return {"value": payload.value}

    await start_runtime(make_registry(), handlers)
    await eventually(lambda: _is(engine, job_id, "completed"), timeout=60)
    assert finished == [job_id]


async def _is(engine: Engine, job_id: str, state: str) -> bool:
    return await _state(engine, job_id) == state
