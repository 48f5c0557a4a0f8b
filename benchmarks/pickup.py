"""Pickup latency on idle and busy queues, and the drain rate of a rate-limited queue, on a real `corral worker`.

    python benchmarks/pickup.py [--samples 120] [--max-idle 8] [--rate-minutes 2]

One embedded Valkey and one `corral worker` process, exactly as `corral up` starts it (every observer on).
Pickup is the engine's own `processedOn - timestamp` of each job (milliseconds).
- idle: one job at a time on each of three queues (`system`, `email`, `ai`), each after a random idle gap of up
  to `--max-idle` seconds, longer than bullmq's 5 s drain wait, so most jobs arrive at a worker that is blocked;
- busy (the baseline, same run): jobs enqueued back to back, 20 ms apart, on `system`.
Rate limit: a backlog of `ai` jobs (limited to 60 per minute by the catalogue) drained for `--rate-minutes`
with no other traffic; jobs started per minute against the configured limit.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from corral.engine import Engine
from corral.keys import Keys
from corral.producer import Producer
from corral.server import EmbeddedValkey
from corral_reference.contracts import default_registry

print = functools.partial(print, flush=True)  # progress shows as it happens

JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "system": ("search.remove", {"docType": "page", "docId": "bench"}),
    "email": ("email.send", {"to": ["bench@example.com"], "subject": "Pickup", "text": "Hello."}),
    "ai": ("ai.seo.meta", {"articleId": "a1", "title": "Pickup latency", "body": "A short body about queues."}),
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(share * (len(ordered) - 1))), len(ordered) - 1)]


async def pickup(engine: Engine, queue: str, job_id: str) -> float:
    """Wait until the job has started; its pickup in ms from the engine's own timestamps."""
    while True:
        job = await engine.get_job(queue, job_id)
        if job is not None and job.processed_on:
            return float(job.processed_on - job.timestamp)
        await asyncio.sleep(0.005)


async def idle_samples(producer: Producer, engine: Engine, queue: str, count: int, max_idle: float) -> list[float]:
    rng = random.Random(f"{queue}-{count}")
    name, data = JOBS[queue]
    found = []
    for _ in range(count):
        await asyncio.sleep(rng.uniform(0.05, max_idle))
        found.append(await pickup(engine, queue, await producer.enqueue(name, data)))
    return found


async def busy_samples(producer: Producer, engine: Engine, count: int) -> list[float]:
    name, data = JOBS["system"]
    ids = []
    for _ in range(count):
        ids.append(await producer.enqueue(name, data))
        await asyncio.sleep(0.02)
    return [await pickup(engine, "system", job_id) for job_id in ids]


async def rate_limited_drain(producer: Producer, engine: Engine, minutes: float) -> tuple[float, int]:
    """Jobs started per minute over `minutes` from the first start, with a backlog bigger than that."""
    config = default_registry().queue("ai")
    assert config.rate_limit is not None
    per_minute = config.rate_limit.max_jobs * 60_000 / config.rate_limit.per_ms
    # Let any limiter window opened by the idle phase close first, so the drain starts a window of its own.
    await asyncio.sleep(config.rate_limit.per_ms / 1000 + 1)
    name, data = JOBS["ai"]
    drained = {**data, "articleId": "drain"}
    await producer.enqueue_bulk([(name, drained)] * int(per_minute * (minutes + 2)))
    await asyncio.sleep(minutes * 60 + 5)
    jobs = [job for state in ("completed", "failed", "active") for job in await engine.list_jobs("ai", state, 0, -1)]
    starts = sorted(job.processed_on for job in jobs if job.processed_on and job.data["articleId"] == "drain")
    window_end = starts[0] + minutes * 60_000
    return sum(1 for start in starts if start < window_end) / minutes, int(per_minute)


async def wait_for_worker(redis: Redis) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        clients = await redis.client_list()
        if sum(1 for c in clients if c.get("cmd") == "bzpopmin") >= 6:
            return
        await asyncio.sleep(0.2)
    raise SystemExit("the worker did not start")


async def main(samples: int, max_idle: float, rate_minutes: float) -> None:
    with tempfile.TemporaryDirectory(prefix="corral-bench-pickup-") as directory:
        server = EmbeddedValkey(Path(directory) / "valkey", persist=False)
        url = server.start()
        env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
        env.update(CORRAL_REDIS_URL=url, CORRAL_DATA_DIR=str(Path(directory) / "data"))
        worker = subprocess.Popen(
            [sys.executable, "-m", "corral", "worker"], env=env, stderr=subprocess.DEVNULL, start_new_session=True
        )
        redis = Redis.from_url(url, decode_responses=True)
        engine = Engine(url, Keys("corral"))
        producer = Producer(engine, default_registry())
        try:
            await wait_for_worker(redis)
            per_queue = max(samples // len(JOBS), 1)
            print(f"idle pickup: {per_queue} jobs on each of {', '.join(JOBS)}, idle gaps up to {max_idle:g} s ...")
            groups = await asyncio.gather(
                *(idle_samples(producer, engine, queue, per_queue, max_idle) for queue in JOBS)
            )
            idle = [value for group in groups for value in group]
            busy = await busy_samples(producer, engine, len(idle))
            for label, values in (("idle", idle), ("busy (baseline)", busy)):
                print(
                    f"  {label:16} n={len(values):4}  p50 {percentile(values, 0.5):6.1f} ms  "
                    f"p95 {percentile(values, 0.95):6.1f} ms  p99 {percentile(values, 0.99):6.1f} ms  "
                    f"max {max(values):6.1f} ms  mean {statistics.fmean(values):6.1f} ms"
                )
            print(f"  idle p99 / busy p99: {percentile(idle, 0.99) / max(percentile(busy, 0.99), 1):.2f}")
            if rate_minutes > 0:
                print(f"rate-limited drain of `ai` for {rate_minutes:g} min with no other traffic ...")
                rate, limit = await rate_limited_drain(producer, engine, rate_minutes)
                print(f"  {rate:.1f} jobs/min started against a limit of {limit}/min ({rate / limit:.2f} of it)")
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
            await engine.close()
            await redis.aclose()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=120)
    parser.add_argument("--max-idle", type=float, default=8.0)
    parser.add_argument("--rate-minutes", type=float, default=2.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.samples, arguments.max_idle, arguments.rate_minutes))
