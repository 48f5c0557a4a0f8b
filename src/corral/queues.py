"""Queue and job operations for operators: overview, job lists and search, job detail, and the actions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from corral.contracts.base import EnqueueOptions, QueueConfig, Registry
from corral.engine import Engine, JobRecord
from corral.errors import FieldError, InvalidRequestError, NotFoundError
from corral.jobs import JOB_STATES
from corral.producer import Producer

LISTABLE_STATES = JOB_STATES
CLEANABLE_STATES = ("completed", "failed")
SEARCH_WINDOW = 5_000
SEARCH_CHUNK = 500
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class QueueSummary:
    """One queue: its policy, whether it is paused, and its job counts by state."""

    name: str
    config: QueueConfig
    paused: bool
    counts: dict[str, int]

    @property
    def backlog(self) -> int:
        """Jobs that have not started yet."""
        return sum(self.counts.get(state, 0) for state in ("waiting", "prioritized", "paused", "delayed"))


@dataclass(frozen=True)
class JobPage:
    """One page of a queue's jobs in one state."""

    items: list[JobRecord]
    total: int
    page: int
    size: int
    scanned: int | None = None
    truncated: bool = False


@dataclass(frozen=True)
class JobDetail:
    """A job with its logs."""

    job: JobRecord
    logs: list[str]
    log_count: int


@dataclass(frozen=True)
class Impact:
    """What a destructive action would do."""

    count: int
    sample: list[str]
    queues: list[str]
    children: int = 0
    parents: dict[str, int] = field(default_factory=dict)


class QueueService:
    """What an operator can see and do with queues and jobs."""

    def __init__(self, engine: Engine, registry: Registry, producer: Producer) -> None:
        self.engine = engine
        self.registry = registry
        self.producer = producer

    def _config(self, queue: str) -> QueueConfig:
        if queue not in self.registry.work_queues:
            raise NotFoundError(f"no queue {queue!r}; queues: {', '.join(self.registry.work_queues)}")
        return self.registry.queue(queue)

    async def summary(self, queue: str) -> QueueSummary:
        """One queue's policy, pause state and counts."""
        config = self._config(queue)
        return QueueSummary(queue, config, await self.engine.is_paused(queue), await self.engine.counts(queue))

    async def overview(self) -> list[QueueSummary]:
        """Every work queue's summary."""
        return [await self.summary(name) for name in self.registry.work_queues]

    async def jobs(self, queue: str, state: str, page: int = 1, size: int = 50, search: str = "") -> JobPage:
        """Jobs of one state, newest first; `search` matches a job id, or text in the name or payload."""
        self._config(queue)
        if state not in LISTABLE_STATES:
            raise InvalidRequestError(
                f"state: one of {', '.join(LISTABLE_STATES)}",
                [FieldError("state", f"one of {', '.join(LISTABLE_STATES)}")],
            )
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidRequestError(
                "page >= 1 and size between 1 and 200", [FieldError("page" if page < 1 else "size", "out of range")]
            )
        if not search.strip():
            total = (await self.engine.counts(queue)).get(state, 0)
            start = (page - 1) * size
            found = JobPage(await self.engine.list_jobs(queue, state, start, start + size - 1), total, page, size)
        else:
            found = await self._search(queue, state, page, size, search.strip())
        return replace(found, items=await self._with_due_times(queue, found.items))

    async def _with_due_times(self, queue: str, jobs: list[JobRecord]) -> list[JobRecord]:
        """Delayed jobs with the time they are due (a retry's due time is not its creation plus its delay)."""
        delayed = [job.id for job in jobs if job.state == "delayed"]
        if not delayed:
            return jobs
        due = await self.engine.due_times(queue, delayed)
        return [replace(job, due_at=due.get(job.id)) if job.state == "delayed" else job for job in jobs]

    async def _search(self, queue: str, state: str, page: int, size: int, needle: str) -> JobPage:
        # A bounded scan of the newest jobs of the state: a queue may hold millions of finished jobs.
        lowered = needle.lower()
        found: list[JobRecord] = []
        exact = await self.engine.get_job(queue, needle)
        if exact is not None and exact.state == state:
            found.append(exact)
        scanned = 0
        total_in_state = (await self.engine.counts(queue)).get(state, 0)
        while scanned < min(SEARCH_WINDOW, total_in_state):
            chunk = await self.engine.list_jobs(queue, state, scanned, scanned + SEARCH_CHUNK - 1)
            if not chunk:
                break
            scanned += len(chunk)
            for job in chunk:
                if job.id == needle:
                    continue
                # Matched on the payload as it is shown: a secret value cannot be found by guessing it.
                shown = self.registry.masked(job.name, job.data)
                if lowered in job.name.lower() or lowered in json.dumps(shown, default=str).lower():
                    found.append(job)
        start = (page - 1) * size
        return JobPage(found[start : start + size], len(found), page, size, scanned, scanned < total_in_state)

    async def job(self, queue: str, job_id: str) -> JobDetail:
        """One job with its logs; raises NotFoundError."""
        self._config(queue)
        record = await self.engine.get_job(queue, job_id)
        if record is None:
            raise NotFoundError(f"no job {job_id!r} in queue {queue!r}")
        logs, count = await self.engine.job_logs(queue, job_id)
        [record] = await self._with_due_times(queue, [record])
        return JobDetail(record, logs, count)

    async def retry(self, queue: str, job_id: str) -> None:
        """Run a failed or completed job again."""
        self._config(queue)
        await self.engine.retry_job(queue, job_id)

    async def remove(self, queue: str, job_id: str) -> None:
        """Delete a job that is not active."""
        self._config(queue)
        await self.engine.remove_job(queue, job_id)

    async def promote(self, queue: str, job_id: str) -> None:
        """Run a delayed job now."""
        self._config(queue)
        await self.engine.promote_job(queue, job_id)

    async def pause(self, queue: str) -> None:
        """Pause a queue."""
        self._config(queue)
        await self.engine.pause(queue)

    async def resume(self, queue: str) -> None:
        """Resume a queue."""
        self._config(queue)
        await self.engine.resume(queue)

    async def clean(self, queue: str, state: str, older_than_seconds: int, limit: int) -> int:
        """Remove up to `limit` completed or failed jobs finished more than `older_than_seconds` ago."""
        self._config(queue)
        if state not in CLEANABLE_STATES:
            raise InvalidRequestError("state: completed or failed", [FieldError("state", "completed or failed")])
        return await self.engine.clean(queue, state, older_than_seconds * 1000, limit)

    async def purge_impact(self, queue: str) -> Impact:
        """What purging would remove: the count and a sample of jobs that have not started, and how many of them
        other jobs wait for (steps of a flow, such as a workflow run), with those parents by job name: a parent
        whose steps are removed cannot finish as planned."""
        summary = await self.summary(queue)
        sample = []
        for state in ("waiting", "prioritized", "delayed"):
            sample += [job.id for job in await self.engine.list_jobs(queue, state, 0, 9)]
        dependent = await self.engine.parents_waiting_on_unstarted(queue)
        return Impact(summary.backlog, sample[:10], [queue], dependent.children, dependent.parents)

    async def purge(self, queue: str) -> int:
        """Remove every job that has not started; returns how many there were."""
        impact = await self.purge_impact(queue)
        await self.engine.purge(queue)
        return impact.count

    async def obliterate_impact(self, queue: str) -> Impact:
        """What obliterating would remove: every job in every state."""
        summary = await self.summary(queue)
        sample = [
            job.id
            for state in JOB_STATES
            if state != "paused"
            for job in await self.engine.list_jobs(queue, state, 0, 2)
        ]
        return Impact(sum(summary.counts.values()), sample[:10], [queue])

    async def obliterate(self, queue: str) -> int:
        """Remove every job of the queue, active ones included; returns how many there were."""
        impact = await self.obliterate_impact(queue)
        await self.engine.obliterate(queue)
        return impact.count

    async def enqueue(self, name: str, payload: Any, options: EnqueueOptions) -> str:
        """Enqueue any registered job type, validated by its contract."""
        return await self.producer.enqueue(name, payload, options)
