"""The benchmark's application for `corral --app bench_app:app worker`: one queue of no-op jobs."""

from __future__ import annotations

import os

from pydantic import Field

from corral import Corral, JobContext, JobContract, QueueConfig, Retention

QUEUE = "bench"
JOB = "bench.noop"
# How many finished jobs the queue keeps (the memory benchmark keeps few, as a long-running deployment would).
KEEP = int(os.environ.get("BENCH_KEEP_JOBS", "2000000"))

app = Corral("throughput-benchmark")
app.add_queue(
    QueueConfig(
        QUEUE,
        attempts=3,
        concurrency=50,
        keep_completed=Retention(KEEP, 3_600),
        keep_failed=Retention(KEEP, 3_600),
    )
)


class Noop(JobContract):
    """A small realistic payload: an id, a name and a few tags."""

    n: int = Field(ge=0)
    name: str = Field(max_length=64)
    tags: list[str] = Field(max_length=8)


@app.job(JOB, queue=QUEUE)
async def noop(ctx: JobContext, payload: Noop) -> dict[str, int]:
    return {"n": payload.n}
