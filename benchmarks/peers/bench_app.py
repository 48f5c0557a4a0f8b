"""The benchmark's application for `corral --app bench_app:app worker`: one queue of no-op jobs."""

from __future__ import annotations

from pydantic import Field

from corral import Corral, JobContext, JobContract, QueueConfig, Retention

QUEUE = "bench"
JOB = "bench.noop"

app = Corral("throughput-benchmark")
app.add_queue(
    QueueConfig(
        QUEUE,
        attempts=3,
        concurrency=50,
        keep_completed=Retention(2_000_000, 3_600),
        keep_failed=Retention(2_000_000, 3_600),
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
