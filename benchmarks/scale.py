"""Scale on one Redis/Valkey server: jobs/s with 1, 2 and 4 `corral worker` processes, and what each job costs it.

    python benchmarks/scale.py [--jobs 20000] [--rounds 2] [--processes 1 2 4]

For each process count, N no-op jobs are queued in bulk and drained by that many `corral worker` processes exactly
as `corral up` starts them (every observer on), on one embedded Valkey. From the first job taken to the last one
done it reads the rate, the server's own CPU (INFO cpu) and the workers' CPU (/proc) per job; the server's memory
per waiting job (INFO used_memory before and after the fill) and per finished job kept (after the drain). The
baseline is the one-process run of the same run: each count's rate is given as a multiple of it.

From the figures it derives, and labels as projections: how many jobs/s one server's core can carry (1 / its CPU
per job), the Valkey and worker CPU for 1,000 jobs/s, and what a worker host with 16 cores could drive.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import redis

from corral.server import EmbeddedValkey
from throughput import CONCURRENCY, all_pids, cpu_seconds, fill, print, remaining, start_workers, stop


def server_cpu(client: redis.Redis) -> float:
    """CPU seconds the server has used (user + system, all its threads)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def drain(url: str, jobs: int, count: int) -> dict[str, float]:
    """One drain of `jobs` by `count` corral workers; rate, CPU per job (server, workers), memory per job."""
    client = redis.Redis.from_url(url)
    client.execute_command("FLUSHALL", "SYNC")  # freed now, not lazily: the memory figures start from empty
    empty = used_memory(client)
    asyncio.run(fill(url, jobs))
    waiting = used_memory(client)
    workers = start_workers("corral", url, count)
    try:
        while remaining(client, "corral") >= jobs:
            time.sleep(0.002)
        started = time.perf_counter()
        server_before, workers_before = server_cpu(client), cpu_seconds(all_pids(workers))
        while remaining(client, "corral") > 0:
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        server = server_cpu(client) - server_before
        worker = cpu_seconds(all_pids(workers)) - workers_before
        finished = used_memory(client)
    finally:
        stop(workers)
        client.close()
    return {
        "rate": jobs / elapsed,
        "server_ms": server * 1000 / jobs,
        "worker_ms": worker * 1000 / jobs,
        "waiting_bytes": (waiting - empty) / jobs,
        "finished_bytes": (finished - empty) / jobs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    counts = sorted(set(args.processes) | {1})
    samples: dict[int, list[dict[str, float]]] = {count: [] for count in counts}
    with tempfile.TemporaryDirectory(prefix="corral-scale-") as directory:
        server = EmbeddedValkey(Path(directory), persist=False)
        url = server.start()
        try:
            for round_number in range(1, args.rounds + 1):
                for count in counts:
                    figures = drain(url, args.jobs, count)
                    samples[count].append(figures)
                    print(
                        f"round {round_number}, {count} process(es): {figures['rate']:,.0f} jobs/s, Valkey "
                        f"{figures['server_ms']:.3f} ms CPU/job, workers {figures['worker_ms']:.2f} ms CPU/job"
                    )
        finally:
            server.stop()

    def med(count: int, field: str) -> float:
        return statistics.median(sample[field] for sample in samples[count])

    base = med(1, "rate")
    print(f"\nN={args.jobs:,} no-op jobs per drain, concurrency {CONCURRENCY} per process, median of {args.rounds}\n")
    print(
        f"{'processes':>9}{'jobs/s':>10}{'x 1 proc':>10}{'Valkey ms/job':>15}{'worker ms/job':>15}{'Valkey busy':>13}"
    )
    for count in counts:
        rate, server_ms = med(count, "rate"), med(count, "server_ms")
        busy = rate * server_ms / 1000
        print(
            f"{count:>9}{rate:>10,.0f}{rate / base:>10.2f}{server_ms:>15.3f}{med(count, 'worker_ms'):>15.2f}"
            f"{busy:>12.0%}"
        )
    server_ms = statistics.median(med(count, "server_ms") for count in counts)
    worker_ms = med(1, "worker_ms")
    print(
        f"\nmemory per waiting job {med(1, 'waiting_bytes'):,.0f} B; per finished job kept "
        f"{med(1, 'finished_bytes'):,.0f} B (bullmq keeps finished jobs as the queue's retention says)"
    )
    capacity = 1000 / server_ms
    print("\nprojections (not measured):")
    print(f"- one Valkey core carries about {capacity:,.0f} jobs/s of this kind (1 / {server_ms:.3f} ms)")
    print(f"- 1,000 jobs/s take about {server_ms:.2f} Valkey cores and {worker_ms:.2f} worker cores")
    per_process = min(base, 1000 / worker_ms)
    host = min(16 * per_process, capacity)
    print(
        f"- a 16-core worker host (16 processes, one per core, each at the one-process rate measured here, "
        f"{per_process:,.0f} jobs/s) could drive about {16 * per_process:,.0f} jobs/s; one server caps it at about "
        f"{host:,.0f} jobs/s, so such a host needs {max(1, -(-16 * per_process // capacity)):.0f} server core(s) "
        "(one Valkey, or a cluster's shards: Cluster is not supported yet)"
    )


if __name__ == "__main__":
    main()
