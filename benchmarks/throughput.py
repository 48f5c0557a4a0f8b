"""Throughput of Corral against raw bullmq, measured in one run against one embedded Valkey.

    python benchmarks/throughput.py [--jobs 20000] [--rounds 3] [--concurrency 50]

Enqueue: N single adds (one at a time) and N jobs by bulk (chunks of 1,000), raw bullmq `Queue.add`/`addBulk`
against Corral's validated `Producer.enqueue`/`enqueue_bulk`, with identical job options.
Processing: N waiting no-op jobs drained by one worker process at the given concurrency, a raw bullmq Worker
against Corral's runtime (contract validation, hooks with a subscriber on every event, DLQ routing armed).
Each figure is the median of the rounds; the ratio is Corral / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
from bullmq import Queue, Worker
from pydantic import Field

from corral.contracts.base import EnqueueOptions, JobContract, JobType, QueueConfig, Registry, Retention
from corral.engine import Engine, job_options
from corral.handlers import HandlerSet, JobContext
from corral.hooks import HookBus, JobEvent
from corral.keys import Keys
from corral.producer import BulkItem, Producer
from corral.runtime import Runtime
from corral.server import EmbeddedValkey
from corral.settings import Settings

QUEUE = "bench"
JOB = "bench.noop"
CHUNK = 1_000


class Noop(JobContract):
    """A small realistic payload: an id, a name and a few tags."""

    n: int = Field(ge=0)
    name: str = Field(max_length=64)
    tags: list[str] = Field(max_length=8)


def registry(concurrency: int) -> Registry:
    result = Registry()
    result.add_queue(
        QueueConfig(
            QUEUE,
            attempts=3,
            concurrency=concurrency,
            keep_completed=Retention(100_000, 3_600),
            keep_failed=Retention(100_000, 3_600),
        )
    )
    result.add_queue(QueueConfig("dlq"))
    result.add_job(JobType(JOB, QUEUE, "bench-worker", Noop))
    return result


def payload(n: int) -> dict[str, Any]:
    return {"n": n, "name": f"job-{n}", "tags": ["bench", "noop"]}


async def timed(action: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def enqueue_rates(url: str, jobs: int, concurrency: int) -> dict[str, float]:
    keys = Keys("bench")
    reg = registry(concurrency)
    opts = job_options(JOB, reg.queue(QUEUE), EnqueueOptions())
    raw = Queue(QUEUE, {"connection": url, "prefix": keys.bullmq_prefix})
    engine = Engine(url, keys)
    producer = Producer(engine, reg, HookBus())
    flush = redis.Redis.from_url(url)

    async def raw_single() -> None:
        for n in range(jobs):
            await raw.add(JOB, payload(n), opts)

    async def raw_bulk() -> None:
        for start in range(0, jobs, CHUNK):
            await raw.addBulk(
                [{"name": JOB, "data": payload(n), "opts": opts} for n in range(start, min(start + CHUNK, jobs))]
            )

    async def corral_single() -> None:
        for n in range(jobs):
            await producer.enqueue(JOB, payload(n))

    async def corral_bulk() -> None:
        for start in range(0, jobs, CHUNK):
            await producer.enqueue_bulk([BulkItem(JOB, payload(n)) for n in range(start, min(start + CHUNK, jobs))])

    rates: dict[str, float] = {}
    for name, action in [
        ("raw add", raw_single),
        ("corral enqueue", corral_single),
        ("raw addBulk", raw_bulk),
        ("corral enqueue_bulk", corral_bulk),
    ]:
        flush.flushall()
        rates[name] = jobs / await timed(action)
    flush.flushall()
    flush.close()
    await raw.close()
    await engine.close()
    return rates


def drain_rate(url: str, kind: str, jobs: int, concurrency: int) -> float:
    """Fill the queue with `jobs` waiting jobs, then time one worker process draining it."""
    flush = redis.Redis.from_url(url)
    flush.flushall()
    flush.close()

    async def fill() -> None:
        engine = Engine(url, Keys("bench"))
        producer = Producer(engine, registry(concurrency))
        for start in range(0, jobs, CHUNK):
            await producer.enqueue_bulk([BulkItem(JOB, payload(n)) for n in range(start, min(start + CHUNK, jobs))])
        await engine.close()

    asyncio.run(fill())
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--drain",
            kind,
            "--url",
            url,
            "--jobs",
            str(jobs),
            "--concurrency",
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["rate"])


async def drain_in_this_process(kind: str, url: str, jobs: int, concurrency: int) -> float:
    finished = asyncio.Event()
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1
        if count >= jobs:
            finished.set()

    keys = Keys("bench")
    if kind == "raw":

        async def process(job: Any, token: str) -> dict[str, int]:
            return {"n": job.data["n"]}

        worker = Worker(
            QUEUE,
            process,
            {"connection": url, "prefix": keys.bullmq_prefix, "concurrency": concurrency, "autorun": False},
        )
        await worker.blockingRedisConnection.getRedisVersion()
        worker.on("completed", lambda *_: tick())
        started = time.perf_counter()
        task = asyncio.ensure_future(worker.run())
        await finished.wait()
        elapsed = time.perf_counter() - started
        await worker.close()
        await task
        return jobs / elapsed

    handlers = HandlerSet()

    @handlers.handles(JOB)
    async def noop(ctx: JobContext, data: Noop) -> dict[str, int]:
        return {"n": data.n}

    seen: list[int] = [0]

    def on_event(event: JobEvent) -> None:
        seen[0] += 1
        if event.kind == "completed":
            tick()

    hooks = HookBus()
    hooks.subscribe(on_event)
    settings = Settings(redis_url=url, key_prefix="bench")
    runtime = Runtime(settings, url, registry(concurrency), handlers, hooks=hooks)
    started = time.perf_counter()
    await runtime.start()
    await finished.wait()
    elapsed = time.perf_counter() - started
    await runtime.close(grace_seconds=5)
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--drain", choices=["raw", "corral"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        rate = asyncio.run(drain_in_this_process(args.drain, args.url, args.jobs, args.concurrency))
        print(json.dumps({"rate": rate}))
        return

    with tempfile.TemporaryDirectory(prefix="corral-bench-") as directory:
        server = EmbeddedValkey(Path(directory), persist=False)
        url = server.start()
        try:
            samples: dict[str, list[float]] = {}
            for round_number in range(1, args.rounds + 1):
                rates = asyncio.run(enqueue_rates(url, args.jobs, args.concurrency))
                rates["raw worker"] = drain_rate(url, "raw", args.jobs, args.concurrency)
                rates["corral runtime"] = drain_rate(url, "corral", args.jobs, args.concurrency)
                for name, rate in rates.items():
                    samples.setdefault(name, []).append(rate)
                print(f"round {round_number}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in rates.items()), flush=True)
        finally:
            server.stop()

    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\nN={args.jobs:,} jobs, worker concurrency {args.concurrency}, median of {args.rounds} round(s)\n")
    print(f"{'operation':<22}{'raw bullmq':>14}{'corral':>14}{'corral/raw':>12}  target")
    for label, raw_name, corral_name, target in [
        ("enqueue one by one", "raw add", "corral enqueue", 0.80),
        ("enqueue in bulk", "raw addBulk", "corral enqueue_bulk", 0.80),
        ("processing", "raw worker", "corral runtime", 0.85),
    ]:
        ratio = median[corral_name] / median[raw_name]
        verdict = "ok" if ratio >= target else "BELOW"
        print(
            f"{label:<22}{median[raw_name]:>12,.0f}/s{median[corral_name]:>12,.0f}/s{ratio:>12.2f}"
            f"  >= {target} {verdict}"
        )


if __name__ == "__main__":
    main()
