"""Realtime gateway under load: WebSocket clients across API processes, events from publisher processes.

    python benchmarks/realtime.py [--clients 200] [--rate 2000] [--duration 30] [--api-processes 2]
                                  [--publishers 2] [--client-processes 4]

One embedded Valkey; the API served N times by uvicorn in subprocesses; clients (real WebSocket clients, spread
over the API processes) in subprocesses; publisher processes calling `EventBus.publish` at the given total rate,
each event carrying its publisher, sequence number and send time. Reports publish-to-client latency p50/p95/p99,
events lost by clients that kept up, connect time p95 (socket opened to first `latest` frame), and the API
processes' RSS. Baseline, measured in the same run: a raw Redis pub/sub subscriber on the same channel (no
gateway); the ratios are gateway / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BUCKETS_PER_MS = 10
MAX_BUCKET = 600_000  # 60 s
DRAIN_SECONDS = 60.0  # after the publishers stop, how long clients may take to receive what is still on its way
_EVENT = re.compile(r'"p":(\d+),"s":(\d+),"t":([0-9.]+)')


def _tally(text: str, received: dict[int, int], last: dict[int, int], histogram: dict[int, int]) -> int:
    """Count the events in one message (by publisher), their latency, and how many came out of order."""
    now = time.time()
    disorder = 0
    for publisher, seq, sent in _EVENT.findall(text):
        p, s = int(publisher), int(seq)
        received[p] = received.get(p, 0) + 1
        if s <= last.get(p, -1):
            disorder += 1
        last[p] = s
        bucket = min(int((now - float(sent)) * 1000 * BUCKETS_PER_MS), MAX_BUCKET)
        histogram[bucket] = histogram.get(bucket, 0) + 1
    return disorder


# Subprocess roles


def serve_api(port: int) -> None:
    """An API process (settings from CORRAL_* variables)."""
    import uvicorn

    from corral.api import create_app
    from corral.settings import Settings

    settings = Settings()
    app = create_app(settings, settings.redis_url)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


async def publish(rate: float, duration: float, publisher: int) -> None:
    """Publish `rate` events per second for `duration` seconds; prints how many."""
    from redis.asyncio import Redis

    from corral.keys import Keys
    from corral.realtime import EventBus, EventDraft
    from corral.settings import Settings

    settings = Settings()
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    bus = EventBus(redis, Keys(settings.key_prefix))
    started = time.perf_counter()
    sent = 0
    queues = ("email", "ai", "analytics", "workflows")
    while (elapsed := time.perf_counter() - started) < duration:
        due = int(elapsed * rate) + 1
        while sent < due:
            data = {"p": publisher, "s": sent, "t": time.time()}
            await bus.publish(EventDraft("job.progress", queue=queues[sent % 4], job_id=str(sent), data=data))
            sent += 1
        await asyncio.sleep(0.002)
    await redis.aclose()
    print(json.dumps({"publisher": publisher, "sent": sent, "seconds": time.perf_counter() - started}), flush=True)


async def run_clients(urls: list[str], count: int, token: str) -> None:
    """Connect `count` clients round-robin over `urls`; print READY; on `stop` (stdin), print their results."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    histogram: dict[int, int] = {}
    connect_ms: list[float] = []
    results: list[dict[str, Any]] = []
    stop = asyncio.Event()
    expected: dict[int, int] = {}
    deadline = [0.0]

    async def client(index: int, ready: asyncio.Event) -> None:
        url = urls[index % len(urls)]
        began = time.perf_counter()
        ws = await connect(url, subprotocols=["corral.v1", f"bearer.{token}"], max_size=2**24, open_timeout=60)
        received: dict[int, int] = {}
        last: dict[int, int] = {}
        disorder = 0
        while True:
            frame = await ws.recv()
            if '"type":"latest"' in frame[:40]:
                break
        connect_ms.append((time.perf_counter() - began) * 1000)
        ready.set()
        code = None

        async def keepalive() -> None:
            while True:
                await asyncio.sleep(20)
                await ws.send('{"action":"ping"}')

        pinger = asyncio.create_task(keepalive())
        try:
            while not stop.is_set() or not _complete(received, expected):
                if stop.is_set() and time.monotonic() > deadline[0]:
                    break
                try:
                    frame = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                assert isinstance(frame, str)
                if not frame.startswith('{"type":"events"'):
                    continue
                disorder += _tally(frame, received, last, histogram)
        except ConnectionClosed:
            code = ws.close_code
        finally:
            pinger.cancel()
        await ws.close()
        results.append({"received": received, "disorder": disorder, "closed": code})

    await _run_until_stopped(
        [lambda ready, index=index: client(index, ready) for index in range(count)], expected, deadline, stop
    )
    print(json.dumps({"histogram": histogram, "connect_ms": connect_ms, "clients": results}), flush=True)


async def run_raw_clients(url: str, count: int, prefix: str) -> None:
    """Fan-out baseline: `count` plain Redis pub/sub subscribers (one connection each, no gateway) on the channel the
    gateway reads, timed and checked as the WebSocket clients are; READY, then results on `stop` (stdin)."""
    from redis.asyncio import Redis

    from corral.keys import Keys

    histogram: dict[int, int] = {}
    results: list[dict[str, Any]] = []
    stop = asyncio.Event()
    expected: dict[int, int] = {}
    deadline = [0.0]
    channel = Keys(prefix).channel("owner")

    async def subscriber(ready: asyncio.Event) -> None:
        redis = Redis.from_url(url, decode_responses=True)
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(channel)
        ready.set()
        received: dict[int, int] = {}
        last: dict[int, int] = {}
        disorder = 0
        while not stop.is_set() or not _complete(received, expected):
            if stop.is_set() and time.monotonic() > deadline[0]:
                break
            message = await pubsub.get_message(timeout=0.5)
            if message is None:
                continue
            disorder += _tally(message["data"], received, last, histogram)
        await pubsub.aclose()
        await redis.aclose()
        results.append({"received": received, "disorder": disorder, "closed": None})

    await _run_until_stopped([subscriber] * count, expected, deadline, stop)
    print(json.dumps({"histogram": histogram, "connect_ms": [], "clients": results}), flush=True)


async def _run_until_stopped(
    starts: list[Callable[[asyncio.Event], Awaitable[None]]],
    expected: dict[int, int],
    deadline: list[float],
    stop: asyncio.Event,
) -> None:
    """Start each subscriber in turn once the one before is ready; print READY; on the publishers' counts (one line
    on stdin) let them drain for up to DRAIN_SECONDS, and wait for them all."""
    tasks = []
    for start in starts:
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(start(ready)))
        await asyncio.wait_for(ready.wait(), 60)
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    expected.update({int(k): int(v) for k, v in json.loads(line).items()})
    deadline[0] = time.monotonic() + DRAIN_SECONDS
    stop.set()
    await asyncio.gather(*tasks)


def _complete(received: dict[int, int], expected: dict[int, int]) -> bool:
    return all(received.get(p, 0) >= n for p, n in expected.items())


async def raw_subscriber(url: str, prefix: str, stop: asyncio.Event) -> dict[int, int]:
    """Baseline: one plain Redis pub/sub subscriber on the global channel."""
    from redis.asyncio import Redis

    from corral.keys import Keys

    redis = Redis.from_url(url, decode_responses=True)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(Keys(prefix).channel("owner"))
    histogram: dict[int, int] = {}
    while not stop.is_set():
        message = await pubsub.get_message(timeout=0.2)
        if message is None:
            continue
        now = time.time()
        for _p, _s, sent in _EVENT.findall(message["data"]):
            bucket = min(int((now - float(sent)) * 1000 * BUCKETS_PER_MS), MAX_BUCKET)
            histogram[bucket] = histogram.get(bucket, 0) + 1
    await pubsub.aclose()
    await redis.aclose()
    return histogram


# Orchestration


def percentile(histogram: dict[int, int], q: float) -> float:
    total = sum(histogram.values())
    if not total:
        return float("nan")
    rank, seen = q * total, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket / BUCKETS_PER_MS
    return max(histogram) / BUCKETS_PER_MS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def prepare(data_dir: Path, env: dict[str, str]) -> str:
    """Migrate the store and make an owner token."""
    from corral.security.permissions import Role
    from corral.security.tokens import TokenService
    from corral.security.users import UserService
    from corral.settings import Settings
    from corral.sql import Database, upgrade

    settings = Settings(redis_url=env["CORRAL_REDIS_URL"], data_dir=data_dir)
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)

    async def make() -> str:
        owner = await UserService(database).create("bench@example.com", Role.OWNER, "benchmark password 123")
        token, _ = await TokenService(database).create(owner.id, "bench")
        return token

    try:
        return asyncio.run(make())
    finally:
        database.dispose()


def wait_healthy(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"API at {base} did not start")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=2_000, help="events per second, all publishers together")
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument(
        "--no-fanout-baseline",
        dest="fanout_baseline",
        action="store_false",
        help="skip the raw pub/sub fan-out phase (as many plain Redis subscribers as clients, no gateway)",
    )
    parser.add_argument(
        "--role", choices=["orchestrate", "api", "publish", "clients", "raw-clients"], default="orchestrate"
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--urls", default="")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    if args.role == "api":
        serve_api(args.port)
    elif args.role == "publish":
        asyncio.run(publish(args.rate, args.duration, args.index))
    elif args.role == "clients":
        asyncio.run(run_clients(args.urls.split(","), args.clients, args.token))
    elif args.role == "raw-clients":
        asyncio.run(run_raw_clients(os.environ["CORRAL_REDIS_URL"], args.clients, "corral"))
    else:
        orchestrate(args)


def orchestrate(args: argparse.Namespace) -> None:
    from corral.server import EmbeddedValkey, free_port

    with tempfile.TemporaryDirectory(prefix="corral-bench-rt-") as tmp:
        valkey = EmbeddedValkey(Path(tmp) / "valkey", persist=False)
        url = valkey.start()
        env = {**os.environ, "CORRAL_REDIS_URL": url, "CORRAL_DATA_DIR": str(Path(tmp) / "data")}
        procs: list[subprocess.Popen[str]] = []
        try:
            token = prepare(Path(tmp) / "data", env)
            me = [sys.executable, __file__]
            ports = [free_port() for _ in range(args.api_processes)]
            logs = Path(tmp)
            apis = [
                subprocess.Popen(
                    [*me, "--role", "api", "--port", str(p)],
                    env=env,
                    text=True,
                    stderr=(logs / f"api-{p}.log").open("w"),
                )
                for p in ports
            ]
            procs.extend(apis)
            for port in ports:
                wait_healthy(f"http://127.0.0.1:{port}")
            urls = ",".join(f"ws://127.0.0.1:{port}/owner/realtime" for port in ports)
            rss_idle = [rss_mb(p.pid) for p in apis]
            shares = [
                args.clients // args.client_processes + (i < args.clients % args.client_processes)
                for i in range(args.client_processes)
            ]

            def run_phase(role: str) -> tuple[list[dict[str, Any]], dict[int, int], list[dict[str, Any]], Any]:
                """Connect the clients of `role` (gateway or raw fan-out), publish, collect what they received."""
                extra = ["--urls", urls, "--token", token] if role == "clients" else []
                clients = [
                    subprocess.Popen(
                        [*me, "--role", role, "--clients", str(n), *extra],
                        env=env,
                        text=True,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=(logs / f"{role}-{i}.log").open("w"),
                    )
                    for i, n in enumerate(shares)
                    if n
                ]
                procs.extend(clients)
                for proc in clients:
                    assert proc.stdout is not None
                    line = proc.stdout.readline()
                    if line.strip() != "READY":
                        raise RuntimeError(f"client process failed: {line!r}")
                rss_connected = [rss_mb(p.pid) for p in apis]
                print(f"{role}: {args.clients} subscribers connected", flush=True)
                published, raw_hist, samples = asyncio.run(publish_all())
                sent_by = json.dumps({p["publisher"]: p["sent"] for p in published})
                for proc in clients:
                    assert proc.stdin is not None
                    proc.stdin.write(sent_by + "\n")
                    proc.stdin.flush()
                reports = []
                for proc in clients:
                    out, _ = proc.communicate(timeout=DRAIN_SECONDS + 60)
                    reports.append(json.loads(out.strip().splitlines()[-1]))
                return published, raw_hist, reports, (rss_connected, samples)

            async def publish_all() -> tuple[list[dict[str, Any]], dict[int, int], list[list[float]]]:
                stop = asyncio.Event()
                raw = asyncio.create_task(raw_subscriber(url, "corral", stop))
                await asyncio.sleep(0.5)
                rate = args.rate / args.publishers
                pubs = [
                    await asyncio.create_subprocess_exec(
                        *me,
                        "--role",
                        "publish",
                        "--rate",
                        str(rate),
                        "--duration",
                        str(args.duration),
                        "--index",
                        str(i),
                        env=env,
                        stdout=asyncio.subprocess.PIPE,
                    )
                    for i in range(args.publishers)
                ]
                samples: list[list[float]] = []
                while any(p.returncode is None for p in pubs):
                    samples.append([rss_mb(p.pid) for p in apis])
                    await asyncio.sleep(1)
                    for p in pubs:
                        if p.returncode is None:
                            try:
                                await asyncio.wait_for(p.wait(), 0.001)
                            except TimeoutError:
                                pass
                outcomes = [json.loads((await p.stdout.read()).decode()) for p in pubs if p.stdout]
                await asyncio.sleep(1)
                stop.set()
                return outcomes, await raw, samples

            fanout = None
            if args.fanout_baseline:
                fan_published, _, fan_reports, _ = run_phase("raw-clients")
                fanout = (fan_published, fan_reports)
            published, raw_hist, reports, (rss_connected, samples) = run_phase("clients")
            report(args, published, raw_hist, reports, rss_idle, rss_connected, samples, fanout)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
            valkey.stop()
            for log in sorted(Path(tmp).glob("*.log")):
                lines = log.read_text(errors="replace").splitlines()
                if lines:
                    first, last = lines[0][:120], lines[-1][:120]
                    print(f"{log.name}: {len(lines)} lines on stderr, first: {first!r}, last: {last!r}")


Tally = tuple[dict[int, int], list[float], int, int, int, int]


def tally(reports: list[dict[str, Any]], sent: dict[int, int]) -> Tally:
    """Merged latency histogram, connect times, and clients kept up / dropped, events lost / out of order."""
    histogram: dict[int, int] = {}
    connect_ms: list[float] = []
    kept_up, dropped, lost, disorder = 0, 0, 0, 0
    for part in reports:
        for bucket, count in part["histogram"].items():
            histogram[int(bucket)] = histogram.get(int(bucket), 0) + count
        connect_ms.extend(part["connect_ms"])
        for client in part["clients"]:
            if client["closed"] is not None:
                dropped += 1
                continue
            kept_up += 1
            got = {int(k): v for k, v in client["received"].items()}
            lost += sum(max(sent[p] - got.get(p, 0), 0) for p in sent)
            disorder += client["disorder"]
    return histogram, connect_ms, kept_up, dropped, lost, disorder


def sent_by(published: list[dict[str, Any]]) -> dict[int, int]:
    return {int(p["publisher"]): int(p["sent"]) for p in published}


def report(
    args: argparse.Namespace,
    published: list[dict[str, Any]],
    raw_hist: dict[int, int],
    reports: list[dict[str, Any]],
    rss_idle: list[float],
    rss_connected: list[float],
    samples: list[list[float]],
    fanout: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None,
) -> None:
    sent = sent_by(published)
    total_sent = sum(sent.values())
    seconds = max(float(p["seconds"]) for p in published)
    histogram, connect_ms, kept_up, dropped, lost, disorder = tally(reports, sent)
    connect_ms.sort()
    connect_p95 = connect_ms[int(0.95 * (len(connect_ms) - 1))] if connect_ms else float("nan")
    peak = [max(s[i] for s in samples) for i in range(len(rss_idle))] if samples else rss_connected
    p = {q: percentile(histogram, q) for q in (0.5, 0.95, 0.99)}
    r = {q: percentile(raw_hist, q) for q in (0.5, 0.95, 0.99)}
    print()
    print(f"published: {total_sent} events in {seconds:.1f} s ({total_sent / seconds:.0f}/s) by {len(sent)} processes")
    print(f"delivered: {sum(histogram.values())} event deliveries to {args.clients} clients")
    print("publish-to-client latency (ms):      p50 {:7.2f}   p95 {:7.2f}   p99 {:7.2f}".format(*p.values()))
    print("baseline raw pub/sub subscriber (ms): p50 {:7.2f}   p95 {:7.2f}   p99 {:7.2f}".format(*r.values()))
    print(
        "ratio gateway / raw:                   p50 {:7.1f}x  p95 {:7.1f}x  p99 {:7.1f}x".format(
            *(p[q] / r[q] if r[q] else float("nan") for q in p)
        )
    )
    if fanout is not None:
        fan_published, fan_reports = fanout
        fan_sent = sent_by(fan_published)
        fan_hist, _, fan_kept, _, fan_lost, fan_disorder = tally(fan_reports, fan_sent)
        f = {q: percentile(fan_hist, q) for q in (0.5, 0.95, 0.99)}
        print(
            f"baseline raw fan-out, {args.clients} plain Redis subscribers in {args.client_processes} processes, "
            f"{sum(fan_sent.values())} events published (separate phase, same publishers):"
        )
        print("  latency (ms):                        p50 {:7.2f}   p95 {:7.2f}   p99 {:7.2f}".format(*f.values()))
        print(f"  events lost: {fan_lost}; out of order: {fan_disorder}; subscribers: {fan_kept}")
        print(
            "ratio gateway / raw fan-out:           p50 {:7.1f}x  p95 {:7.1f}x  p99 {:7.1f}x".format(
                *(p[q] / f[q] if f[q] else float("nan") for q in p)
            )
        )
    print(
        f"clients that kept up: {kept_up}, dropped as too slow: {dropped}; events lost by those that kept up: "
        f"{lost}; out of order: {disorder}"
    )
    print(f"connect time p95: {connect_p95:.1f} ms (max {connect_ms[-1] if connect_ms else float('nan'):.1f} ms)")
    for i, (idle, connected, top) in enumerate(zip(rss_idle, rss_connected, peak, strict=True)):
        print(f"API process {i}: RSS idle {idle:.0f} MB, with clients {connected:.0f} MB, peak under load {top:.0f} MB")
    targets = [
        ("p95 <= 50 ms", p[0.95] <= 50),
        ("p99 <= 100 ms", p[0.99] <= 100),
        ("zero loss", lost == 0 and dropped == 0),
        ("connect p95 <= 100 ms", connect_p95 <= 100),
    ]
    print("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in targets))


if __name__ == "__main__":
    main()
