"""Memory of a worker process over a long run: one `corral worker` (every observer on) drains N jobs.

    python benchmarks/memory.py [--jobs 1000000] [--samples 20] [--backlog 20000]

One embedded Valkey; one `corral --app bench_app:app worker` process exactly as `corral up` starts it, on a queue
that keeps 1,000 finished jobs (as a long-running deployment keeps few); this process enqueues in bulk, keeping at
most `--backlog` jobs waiting, so the server's memory stays bounded and only the worker's is measured. The worker's
resident memory (VmRSS) is read at `--samples` evenly spaced points. The baseline, from the same run, is the RSS at
the first sample (after 1/samples of the jobs, once imports, pools and caches are warm); the figure is the growth
from there to the largest later sample. Target: within 10 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BENCH_KEEP_JOBS", "1000")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis

from corral.engine import Engine
from corral.keys import Keys
from corral.producer import BulkItem, Producer
from corral.server import EmbeddedValkey
from throughput import CHUNK, JOB, PREFIX, app, payload, print, remaining, start_workers, stop


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run(url: str, worker_pid: int, jobs: int, samples: int, backlog: int) -> list[tuple[int, float, float]]:
    """Feed the worker and read its RSS at evenly spaced points: (jobs done, seconds, RSS MB)."""
    engine = Engine(url, Keys(PREFIX))
    producer = Producer(engine, app.registry)
    client = redis.Redis.from_url(url)
    points = [jobs * (i + 1) // samples for i in range(samples)]
    readings: list[tuple[int, float, float]] = []
    sent = 0
    started = time.perf_counter()
    try:
        while points:
            left = remaining(client, "corral")
            done = sent - left
            while points and done >= points[0]:
                readings.append((done, time.perf_counter() - started, rss_mb(worker_pid)))
                print(f"{done:>9,} jobs done, {readings[-1][1]:7.1f} s, worker RSS {readings[-1][2]:6.1f} MB")
                points.pop(0)
            if sent < jobs and left < backlog:
                batch = min(CHUNK, jobs - sent)
                await producer.enqueue_bulk([BulkItem(JOB, payload(n)) for n in range(sent, sent + batch)])
                sent += batch
            else:
                await asyncio.sleep(0.05)
    finally:
        client.close()
        await engine.close()
    return readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--backlog", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-bench-memory-") as directory:
        server = EmbeddedValkey(Path(directory), persist=False)
        url = server.start()
        workers = start_workers("corral", url, 1)
        try:
            readings = asyncio.run(run(url, workers[0].pid, args.jobs, args.samples, args.backlog))
            server_mb = redis.Redis.from_url(url).info("memory")["used_memory"] / 2**20
        finally:
            stop(workers)
            server.stop()
    base = readings[0][2]
    peak = max(rss for _, _, rss in readings[1:]) if len(readings) > 1 else base
    growth = (peak - base) / base
    seconds = readings[-1][1]
    print()
    print(f"{readings[-1][0]:,} jobs in {seconds:.0f} s ({readings[-1][0] / seconds:,.0f} jobs/s), one worker process")
    verdict = "met" if growth <= 0.10 else "MISSED"
    print(f"worker RSS: {base:.1f} MB after {readings[0][0]:,} jobs (baseline), largest later {peak:.1f} MB,")
    print(f"  last {readings[-1][2]:.1f} MB; growth {growth:+.1%} (target within 10 %: {verdict})")
    print(f"Valkey used_memory at the end: {server_mb:.1f} MB")


if __name__ == "__main__":
    main()
