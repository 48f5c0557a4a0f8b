"""Monitoring at scale: endpoint latency over a million waiting jobs with live traffic, and the cost of recording.

    python benchmarks/monitoring.py [--jobs 1000000] [--requests 200] [--uncached 100] [--drain-jobs 20000] [--rounds 3]

Recording overhead: N waiting no-op jobs drained by one worker process (concurrency 50), Corral's runtime with the
metrics recorder subscribed to its hooks ("on") against the same runtime with no subscriber ("off"), alternating,
median of the rounds; the ratio is on / off (target >= 0.90, i.e. overhead <= 10 %).

Endpoints: seeds N waiting jobs across the six catalogue queues (addBulk through the engine), serves the API in its
own process, and runs live traffic in another (a worker with the monitoring observer draining `system`, and a
producer adding 100 jobs/s to `email`). Then p50/p95 of whole HTTP round trips (sequential, keep-alive) of
/owner/stats, /owner/metrics/system and /owner/health, cached and uncached (`?refresh=true`), against the baseline
of /healthz (a round trip that only pings Redis) in the same run. Targets: cached p95 <= 5 ms, uncached <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from pydantic import Field, SecretStr

from corral.contracts.base import EnqueueOptions, JobContract, JobType, QueueConfig, Registry, Retention
from corral.dlq.store import DeadLetterStore
from corral.engine import Engine, job_options
from corral.handlers import HandlerSet, JobContext
from corral.hooks import HookBus, JobEventKind
from corral.keys import Keys
from corral.monitoring import MetricsRecorder
from corral.producer import BulkItem, Producer, encode_payload
from corral.runtime import Runtime
from corral.server import EmbeddedValkey, free_port
from corral.settings import Settings
from corral_reference.contracts import default_registry

CHUNK = 5_000
SAMPLES = {
    "ai.seo.meta": {"articleId": "a1", "title": "Hello world", "body": "Some body text for the article."},
    "workflow.step": {"workflowId": "w1", "runId": "r1", "stepId": "s1", "action": "noop", "params": {}},
    "analytics.rollup": {"granularity": "hour", "start": "2026-01-01T00:00:00Z"},
    "email.send": {"to": ["a@example.com"], "subject": "Hello", "text": "Hi"},
    "plugin.execute": {"pluginId": "p1", "hook": "run", "payload": {}, "timeoutMs": 1000},
    "search.remove": {"docType": "page", "docId": "d1"},
}
SYSTEM_JOBS = ("search.index", "search.remove", "article.publish", "article.autosave", "system.cleanup")
TOKEN = "bench-metrics-token-0123456789abcdef"  # 32+ characters, the minimum


# ---------------------------------------------------------------- recording overhead


class Noop(JobContract):
    """A small payload."""

    n: int = Field(ge=0)
    tags: list[str] = Field(max_length=8)


def bench_registry(concurrency: int) -> Registry:
    registry = Registry()
    keep = Retention(100_000, 3_600)
    registry.add_queue(QueueConfig("bench", concurrency=concurrency, keep_completed=keep, keep_failed=keep))
    registry.add_queue(QueueConfig("dlq"))
    registry.add_job(JobType("bench.noop", "bench", "bench-worker", Noop))
    return registry


def drain_rate(url: str, recording: bool, jobs: int, concurrency: int) -> tuple[float, float]:
    """Fill `bench` with `jobs` waiting jobs, then time one worker process draining it."""
    flush = redis.Redis.from_url(url)
    flush.flushall()
    flush.close()

    async def fill() -> None:
        engine = Engine(url, Keys("rec"))
        producer = Producer(engine, bench_registry(concurrency))
        for start in range(0, jobs, 1_000):
            batch = [
                BulkItem("bench.noop", {"n": n, "tags": ["a", "b"]}) for n in range(start, min(start + 1_000, jobs))
            ]
            await producer.enqueue_bulk(batch)
        await engine.close()

    asyncio.run(fill())
    mode = "on" if recording else "off"
    args = ["--drain", mode, "--url", url, "--drain-jobs", str(jobs), "--concurrency", str(concurrency)]
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["rate"]), float(result["cpu_us"])


async def drain_here(url: str, recording: bool, jobs: int, concurrency: int) -> tuple[float, float]:
    """Jobs per second (wall clock) and the worker process's CPU microseconds per job."""
    finished = asyncio.Event()
    count = [0]

    def tick(_event: Any) -> None:
        count[0] += 1
        if count[0] >= jobs:
            finished.set()

    handlers = HandlerSet()

    @handlers.handles("bench.noop")
    async def noop(ctx: JobContext, data: Noop) -> dict[str, int]:
        return {"n": data.n}

    hooks = HookBus()
    settings = Settings(redis_url=url, key_prefix="rec")
    runtime = Runtime(settings, url, bench_registry(concurrency), handlers, dlq=DeadLetterStore, hooks=hooks)
    recorder = MetricsRecorder(runtime.redis, runtime.keys) if recording else None
    if recorder is not None:
        recorder.subscribe(hooks)
        recorder.start()
    hooks.subscribe(tick, JobEventKind.COMPLETED)
    started, cpu_started = time.perf_counter(), time.process_time()
    await runtime.start()
    await finished.wait()
    elapsed = time.perf_counter() - started
    if recorder is not None:
        await recorder.close()  # the last flush counts
    cpu = time.process_time() - cpu_started
    if recorder is not None:
        totals = await runtime.redis.hget(runtime.keys.metrics_totals, "bench:c")
        assert int(totals or 0) == jobs, f"recorded {totals} of {jobs} completions"
    await runtime.close(grace_seconds=5)
    return jobs / elapsed, cpu / jobs * 1_000_000


# ---------------------------------------------------------------- endpoints over a million waiting jobs


async def seed(url: str, jobs: int) -> float:
    """N waiting jobs spread evenly over the six work queues, added in bulk; returns jobs/s."""
    registry = default_registry()
    engine = Engine(url, Keys("corral"))
    started = time.perf_counter()
    per_queue = jobs // len(SAMPLES)
    for name, payload in SAMPLES.items():
        job_type = registry.job(name)
        data = encode_payload(job_type, payload)
        opts = job_options(name, registry.queue(job_type.queue), EnqueueOptions())
        for start in range(0, per_queue, CHUNK):
            size = min(CHUNK, per_queue - start)
            await engine.add_bulk(job_type.queue, [(name, data, opts)] * size)
    await engine.close()
    return per_queue * len(SAMPLES) / (time.perf_counter() - started)


def api_settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        redis_url=url,
        data_dir=data_dir,
        rate_limit_reads="10000000/minute",
        rate_limit_metrics="10000000/minute",
        metrics_token=SecretStr(TOKEN),
        worker_heartbeat_seconds=1.0,
    )


def owner_token(settings: Settings) -> str:
    from corral.security.permissions import Role
    from corral.security.tokens import TokenService
    from corral.security.users import UserService
    from corral.sql import Database, upgrade

    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)

    async def make() -> str:
        owner = await UserService(database).create("owner@example.com", Role.OWNER, "a long bench password")
        token, _ = await TokenService(database).create(owner.id, "bench")
        return token

    try:
        return asyncio.run(make())
    finally:
        database.dispose()


def serve_here(url: str, data_dir: Path, port: int) -> None:
    import uvicorn

    from corral.api import create_app

    uvicorn.run(create_app(api_settings(url, data_dir), url), host="127.0.0.1", port=port, log_level="warning")


async def traffic_here(url: str, data_dir: Path) -> None:
    """A worker draining `system` with the monitoring observer, and a producer adding 100 emails/s."""
    from redis.asyncio import Redis

    from corral.monitoring import observe_monitoring
    from corral.worker_services import WorkerServices

    settings = api_settings(url, data_dir)
    registry = default_registry()
    keys = Keys(settings.key_prefix)
    client = Redis.from_url(url, decode_responses=True)
    engine = Engine(url, keys)
    producer = Producer(engine, registry)
    services = WorkerServices(settings, client, producer, keys)
    handlers = HandlerSet()

    async def noop(ctx: JobContext, payload: Any) -> dict[str, bool]:
        await asyncio.sleep(0.005)
        return {"ok": True}

    for name in SYSTEM_JOBS:
        handlers.add(name, noop)
    hooks = HookBus()
    runtime = Runtime(settings, url, registry, handlers, queues=["system"], dlq=DeadLetterStore, hooks=hooks)
    observe_monitoring(hooks, services, runtime)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await runtime.start()
    while not stop.is_set():
        await producer.enqueue_bulk([BulkItem("email.send", SAMPLES["email.send"])] * 10)
        try:
            await asyncio.wait_for(stop.wait(), 0.1)
        except TimeoutError:
            pass
    await runtime.close(grace_seconds=5)
    await services.close()
    await engine.close()
    await client.aclose()


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not happen within {timeout}s")


def latencies(client: httpx.Client, path: str, count: int, params: dict[str, str] | None = None) -> dict[str, Any]:
    """p50/p95 in ms of `count` sequential round trips, and how many answers came from the cache."""
    times, cached = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("application/json"):
            cached += bool(response.json().get("cached")) if isinstance(response.json(), dict) else 0
    times.sort()
    return {
        "p50": statistics.median(times),
        "p95": times[max(int(len(times) * 0.95) - 1, 0)],
        "cached": cached,
        "n": count,
    }


def endpoints(url: str, jobs: int, requests: int, uncached: int) -> None:
    flush = redis.Redis.from_url(url)
    flush.flushall()
    rate = asyncio.run(seed(url, jobs))
    print(f"seeded {jobs:,} waiting jobs across 6 queues at {rate:,.0f} jobs/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="corral-bench-api-") as directory:
        data_dir = Path(directory)
        token = owner_token(api_settings(url, data_dir))
        port = free_port()
        common = ["--url", url, "--data-dir", str(data_dir)]
        api = subprocess.Popen([sys.executable, __file__, "--serve", str(port), *common])
        traffic = subprocess.Popen([sys.executable, __file__, "--traffic", *common])
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 60, "API start")
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
                wait_until(lambda: client.get("/owner/workers").json(), 60, "traffic worker heartbeat")
                wait_until(
                    lambda: client.get("/owner/metrics/system", params={"refresh": "true"}).json()["summary"][
                        "completed"
                    ],
                    60,
                    "live traffic",
                )
                waiting = sum(
                    q["counts"]["waiting"]
                    for q in client.get("/owner/stats", params={"refresh": "true"}).json()["queues"]
                )
                print(
                    f"live: {waiting:,} jobs waiting; worker draining `system`, producer adding 100 emails/s\n",
                    flush=True,
                )
                rows = {
                    "/healthz (baseline)": (latencies(client, "/healthz", requests), None),
                    "/owner/alerts/rules": (latencies(client, "/owner/alerts/rules", requests), None),
                }
                for path in ("/owner/stats", "/owner/metrics/system", "/owner/health"):
                    fresh = latencies(client, path, uncached, {"refresh": "true"})
                    client.get(path)  # fill the cache
                    rows[path] = (latencies(client, path, requests), fresh)
                client.headers["Authorization"] = f"Bearer {TOKEN}"
                scrape = latencies(client, "/metrics", uncached // 2 or 1)
        finally:
            for process in (traffic, api):
                process.send_signal(signal.SIGTERM)
            for process in (traffic, api):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
    base_p95 = rows["/healthz (baseline)"][0]["p95"]
    header = f"{'endpoint':<24}{'cached p50':>11}{'p95':>8}{'hits':>10}{'uncached p50':>14}{'p95':>8}"
    print(header + f"{'p95/baseline':>14}  verdict")
    for path, (cached, fresh) in rows.items():
        line = f"{path:<24}{cached['p50']:>9.2f}ms{cached['p95']:>6.2f}ms{cached['cached']:>5}/{cached['n']:<4}"
        if fresh is None:
            print(line)
            continue
        ok = cached["p95"] <= 5 and fresh["p95"] <= 50
        line += f"{fresh['p50']:>12.2f}ms{fresh['p95']:>6.2f}ms{fresh['p95'] / base_p95:>13.1f}x  "
        print(line + ("ok" if ok else "ABOVE TARGET"))
    print(f"{'/metrics (Prometheus)':<24}{scrape['p50']:>9.2f}ms{scrape['p95']:>6.2f}ms  (stats, health: cached)")
    print("\n/owner/alerts/rules reads nothing from Redis: it is the cost of the guard (token, rate limits) alone.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--uncached", type=int, default=100)
    parser.add_argument("--drain-jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--drain", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--traffic", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        rate, cpu_us = asyncio.run(drain_here(args.url, args.drain == "on", args.drain_jobs, args.concurrency))
        print(json.dumps({"rate": rate, "cpu_us": cpu_us}))
        return
    if args.serve:
        serve_here(args.url, args.data_dir, args.serve)
        return
    if args.traffic:
        asyncio.run(traffic_here(args.url, args.data_dir))
        return

    with tempfile.TemporaryDirectory(prefix="corral-bench-valkey-") as directory:
        server = EmbeddedValkey(Path(directory), persist=False)
        url = server.start()
        try:
            rates: dict[str, list[float]] = {"off": [], "on": []}
            cpu: dict[str, list[float]] = {"off": [], "on": []}
            ratios = []
            for number in range(1, args.rounds + 1):
                # Alternate the order so that a drift in the machine's load does not favour one side.
                for mode in ("off", "on") if number % 2 else ("on", "off"):
                    rate, cpu_us = drain_rate(url, mode == "on", args.drain_jobs, args.concurrency)
                    rates[mode].append(rate)
                    cpu[mode].append(cpu_us)
                ratios.append(rates["on"][-1] / rates["off"][-1])
                print(
                    f"round {number}: recording off {rates['off'][-1]:,.0f}/s ({cpu['off'][-1]:.0f} us CPU/job), "
                    f"on {rates['on'][-1]:,.0f}/s ({cpu['on'][-1]:.0f} us CPU/job)",
                    flush=True,
                )
            off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
            cpu_off, cpu_on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
            ratio = statistics.median(ratios)
            cpu_overhead = cpu_on / cpu_off - 1
            verdict = "ok" if min(ratio, 1 / (1 + cpu_overhead)) >= 0.90 else "ABOVE TARGET"
            print(
                f"processing {args.drain_jobs:,} jobs, concurrency {args.concurrency}, {args.rounds} rounds: "
                f"median off {off:,.0f}/s, on {on:,.0f}/s; median on/off of the rounds {ratio:.3f}; "
                f"worker CPU per job off {cpu_off:.0f} us, on {cpu_on:.0f} us (+{100 * cpu_overhead:.1f} %); "
                f"target overhead <= 10 %: {verdict}\n",
                flush=True,
            )
            endpoints(url, args.jobs, args.requests, args.uncached)
        finally:
            server.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
