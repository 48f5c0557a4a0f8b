"""Throughput of Corral as users run it, against raw bullmq and dramatiq, in one run on one embedded Valkey.

    python benchmarks/throughput.py [--jobs 10000] [--rounds 3] [--processes 1 2] [--skip-dramatiq]

Processing: N no-op jobs (the same small payload for all) are queued, then K worker processes drain them:
- Corral: `corral --app bench_app:app worker` processes, exactly as `corral up` starts them (contract validation,
  hooks, every observer a real worker installs: realtime events, DLQ replay outcomes, metrics, heartbeat, alerts),
  on the default event loop (uvloop) and, as `corral/asyncio`, with CORRAL_WORKER_EVENT_LOOP=asyncio;
- raw bullmq: a bullmq `Worker` with a no-op processor, same concurrency;
- dramatiq: `dramatiq` worker processes (Redis broker) with as many threads as the others' concurrency, installed
  in the benchmark's own environment (`benchmarks/.peers`), never as a dependency of Corral.
The rate runs from the first job taken to the last one done (start-up excluded). Redis commands per job come
from the server's own counter, worker CPU per job from /proc over the same span.
Enqueue: N single adds and N jobs in bulk (1,000 per call), raw bullmq `add`/`addBulk` against Corral's validated
`enqueue`/`enqueue_bulk`, identical job options.
Latency: enqueue-to-start (the handler's start, from the worker's `job.started` event, minus the producer's clock
just before the enqueue call) of jobs enqueued one by one at half of Corral's measured one-process capacity, for
10 s, against one Corral worker.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
from bullmq import Queue

from corral.contracts.base import EnqueueOptions
from corral.engine import Engine, job_options
from corral.keys import Keys
from corral.producer import BulkItem, Producer
from corral.server import EmbeddedValkey

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
PEER_ENV = HERE / ".peers"
DRAMATIQ = "dramatiq[redis]==2.2.1"
CHUNK = 1_000
CONCURRENCY = 50
PREFIX = "bench"
CORRAL = "corral"
CORRAL_ASYNCIO = "corral/asyncio"

sys.path.insert(0, str(PEERS))
from bench_app import JOB, QUEUE, app  # noqa: E402

print = functools.partial(print, flush=True)  # progress shows as it happens


def payload(n: int) -> dict[str, Any]:
    return {"n": n, "name": f"job-{n}", "tags": ["bench", "noop"]}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(share * (len(ordered) - 1))), len(ordered) - 1)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes and their children so far."""
    total = 0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / ticks


def commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


# --- enqueue ----------------------------------------------------------------------------------------------------------


async def enqueue_rates(url: str, jobs: int) -> dict[str, float]:
    keys = Keys(PREFIX)
    opts = job_options(JOB, app.registry.queue(QUEUE), EnqueueOptions())
    raw = Queue(QUEUE, {"connection": url, "prefix": keys.bullmq_prefix})
    engine = Engine(url, keys)
    producer = Producer(engine, app.registry)
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

    actions: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("raw add", raw_single),
        ("corral enqueue", corral_single),
        ("raw addBulk", raw_bulk),
        ("corral enqueue_bulk", corral_bulk),
    ]
    rates: dict[str, float] = {}
    for name, action in actions:
        flush.flushall()
        started = time.perf_counter()
        await action()
        rates[name] = jobs / (time.perf_counter() - started)
    flush.flushall()
    flush.close()
    await raw.close()
    await engine.close()
    return rates


async def fill(url: str, jobs: int) -> None:
    engine = Engine(url, Keys(PREFIX))
    producer = Producer(engine, app.registry)
    for start in range(0, jobs, CHUNK):
        await producer.enqueue_bulk([BulkItem(JOB, payload(n)) for n in range(start, min(start + CHUNK, jobs))])
    await engine.close()


# --- processing -------------------------------------------------------------------------------------------------------


def corral_env(url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update(
        CORRAL_REDIS_URL=url,
        CORRAL_KEY_PREFIX=PREFIX,
        CORRAL_APP="bench_app:app",
        CORRAL_DATA_DIR=str(Path(tempfile.gettempdir()) / "corral-bench-data"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(PEERS), env.get("PYTHONPATH", "")])),
    )
    return env


def start_workers(kind: str, url: str, count: int) -> list[subprocess.Popen[bytes]]:
    if kind in (CORRAL, CORRAL_ASYNCIO):
        command = [str(Path(sys.executable).parent / "corral"), "worker"]
        env = corral_env(url)
        if kind == CORRAL_ASYNCIO:
            env["CORRAL_WORKER_EVENT_LOOP"] = "asyncio"
    elif kind == "raw bullmq":
        command = [
            sys.executable,
            str(PEERS / "raw_bullmq_worker.py"),
            url,
            Keys(PREFIX).bullmq_prefix,
            str(CONCURRENCY),
        ]
        env = dict(os.environ)
    else:
        command = [
            str(PEER_ENV / "bin" / "dramatiq"),
            "dramatiq_app",
            "--processes",
            "1",
            "--threads",
            str(CONCURRENCY),
            "--queues",
            "bench",
        ]
        env = {**os.environ, "DRAMATIQ_URL": url, "PYTHONPATH": str(PEERS)}
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(count)
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def remaining(client: redis.Redis, kind: str) -> int:
    """Jobs not yet done."""
    if kind == "dramatiq":
        return int(client.hlen("dramatiq-bench:bench.msgs"))
    base = f"{Keys(PREFIX).bullmq_prefix}:{QUEUE}"
    return int(client.llen(f"{base}:wait") + client.llen(f"{base}:active") + client.zcard(f"{base}:delayed"))


def all_pids(processes: list[subprocess.Popen[bytes]]) -> list[int]:
    """The processes and their descendants (dramatiq's worker forks its own)."""
    pids = [p.pid for p in processes]
    for pid in list(pids):
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return pids


def drain(url: str, kind: str, jobs: int, count: int) -> dict[str, float]:
    client = redis.Redis.from_url(url)
    client.flushall()
    if kind == "dramatiq":
        subprocess.run(
            [str(PEER_ENV / "bin" / "python"), str(PEERS / "dramatiq_app.py"), "fill", str(jobs)],
            env={**os.environ, "DRAMATIQ_URL": url, "PYTHONPATH": str(PEERS)},
            check=True,
        )
    else:
        asyncio.run(fill(url, jobs))
    workers = start_workers(kind, url, count)
    try:
        while remaining(client, kind) >= jobs:
            time.sleep(0.002)
        started = time.perf_counter()
        pids = all_pids(workers)
        cpu_before, commands_before = cpu_seconds(pids), commands(client)
        polls = 0
        while remaining(client, kind) > 0:
            polls += 1
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(all_pids(workers)) - cpu_before
        spent = commands(client) - commands_before - polls * 3 - 2
    finally:
        stop(workers)
        client.close()
    return {"rate": jobs / elapsed, "commands": spent / jobs, "cpu_ms": cpu * 1000 / jobs}


# --- latency ----------------------------------------------------------------------------------------------------------


async def latency(url: str, rate: float, seconds: float = 10.0) -> list[float]:
    client = redis.Redis.from_url(url)
    client.flushall()
    workers = start_workers(CORRAL, url, 1)
    engine = Engine(url, Keys(PREFIX))
    producer = Producer(engine, app.registry)
    try:
        while True:  # ready: its blocking wait is on the bench queue
            if any(c.get("cmd") == "bzpopmin" for c in client.client_list()):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        sent: list[tuple[str, float]] = []
        started = time.perf_counter()
        count = int(rate * seconds)
        for n in range(count):
            due = started + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            at = time.time() * 1000
            sent.append((await producer.enqueue(JOB, payload(n)), at))
        while remaining(client, CORRAL) > 0:
            await asyncio.sleep(0.05)
        # The start of each job is the time its handler began, which the worker publishes as `job.started`
        # (bullmq's processedOn is taken when the fetch is sent, possibly before the job was even enqueued).
        await asyncio.sleep(1)
        started_at: dict[str, float] = {}
        for _id, fields in client.xrange(Keys(PREFIX).event_stream, "-", "+"):
            event = json.loads(fields[b"e"])
            if event["type"] == "job.started":
                started_at[event["jobId"]] = float(event["data"]["at"])
        found = [started_at[job_id] - at for job_id, at in sent if job_id in started_at]
        return found
    finally:
        await engine.close()
        stop(workers)
        client.close()


# --- the run ----------------------------------------------------------------------------------------------------------


def ensure_dramatiq() -> bool:
    if (PEER_ENV / "bin" / "dramatiq").exists():
        return True
    print(f"installing {DRAMATIQ} into {PEER_ENV} (the benchmark's own environment) ...")
    subprocess.run([sys.executable, "-m", "venv", str(PEER_ENV)], check=True)
    installed = subprocess.run([str(PEER_ENV / "bin" / "pip"), "install", "-q", DRAMATIQ], check=False)
    return installed.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-dramatiq", action="store_true")
    args = parser.parse_args()
    kinds = [CORRAL, CORRAL_ASYNCIO, "raw bullmq"] + (
        [] if args.skip_dramatiq or not ensure_dramatiq() else ["dramatiq"]
    )

    with tempfile.TemporaryDirectory(prefix="corral-bench-") as directory:
        server = EmbeddedValkey(Path(directory), persist=False)
        url = server.start()
        samples: dict[str, list[dict[str, float]]] = {}
        enqueue: dict[str, list[float]] = {}
        try:
            for round_number in range(1, args.rounds + 1):
                for name, value in asyncio.run(enqueue_rates(url, args.jobs)).items():
                    enqueue.setdefault(name, []).append(value)
                for count in args.processes:
                    for kind in kinds:
                        figures = drain(url, kind, args.jobs, count)
                        samples.setdefault(f"{kind}|{count}", []).append(figures)
                        print(
                            f"round {round_number}: {kind}, {count} process(es): {figures['rate']:,.0f} jobs/s, "
                            f"{figures['commands']:.1f} commands/job, {figures['cpu_ms']:.2f} ms CPU/job"
                        )
            one = statistics.median(s["rate"] for s in samples["corral|1"])
            waits = asyncio.run(latency(url, one / 2))
        finally:
            server.stop()

    def med(key: str, field: str) -> float:
        return statistics.median(s[field] for s in samples[key])

    print(f"\nN={args.jobs:,} no-op jobs, concurrency {CONCURRENCY} per process, median of {args.rounds} round(s)\n")
    print(f"{'worker':<16}{'processes':>10}{'jobs/s':>10}{'cmds/job':>10}{'CPU ms/job':>12}")
    for count in args.processes:
        for kind in kinds:
            key = f"{kind}|{count}"
            rate, spent, cpu = med(key, "rate"), med(key, "commands"), med(key, "cpu_ms")
            print(f"{kind:<16}{count:>10}{rate:>10,.0f}{spent:>10.1f}{cpu:>12.2f}")
    print()

    def paired(key: str, baseline: str) -> float:
        """Median of the per-round ratios: each round runs both back to back, so a slower phase of a shared machine
        weighs on both sides of a ratio instead of on one median."""
        return statistics.median(a["rate"] / b["rate"] for a, b in zip(samples[key], samples[baseline], strict=True))

    print("ratios of jobs/s (median of the per-round ratios, each round runs every worker back to back):")
    for count in args.processes:
        corral = f"{CORRAL}|{count}"
        line = (
            f"{count} process(es): Corral / raw bullmq {paired(corral, f'raw bullmq|{count}'):.2f} (target >= 2.0), "
            f"uvloop / asyncio {paired(corral, f'{CORRAL_ASYNCIO}|{count}'):.2f}"
        )
        if "dramatiq" in kinds:
            line += f", Corral / dramatiq {paired(corral, f'dramatiq|{count}'):.2f} (target >= 1.0)"
        print(line)
    single = statistics.median(enqueue["corral enqueue"]) / statistics.median(enqueue["raw add"])
    bulk = statistics.median(enqueue["corral enqueue_bulk"]) / statistics.median(enqueue["raw addBulk"])
    print(
        f"enqueue one by one: Corral {statistics.median(enqueue['corral enqueue']):,.0f}/s, raw "
        f"{statistics.median(enqueue['raw add']):,.0f}/s, ratio {single:.2f} (target >= 1.2)"
    )
    print(
        f"enqueue in bulk: Corral {statistics.median(enqueue['corral enqueue_bulk']):,.0f}/s, raw "
        f"{statistics.median(enqueue['raw addBulk']):,.0f}/s, ratio {bulk:.2f} (target >= 0.9)"
    )
    print(
        f"enqueue-to-start at {one / 2:,.0f} jobs/s (half of Corral's one-process capacity), n={len(waits)}: "
        f"p50 {percentile(waits, 0.5):.0f} ms, p95 {percentile(waits, 0.95):.0f} ms, "
        f"p99 {percentile(waits, 0.99):.0f} ms (target p99 <= 25 ms)"
    )


if __name__ == "__main__":
    main()
