"""The one module that speaks bullmq: queues, job options, workers and the atomic move to the DLQ.

Everything bullmq-specific (camelCase methods, option dicts, Lua command names) stays here;
the rest of Corral uses the names and types defined below.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from bullmq import Job, Queue, Worker
from bullmq.custom_errors import UnrecoverableError, WaitingChildrenError
from bullmq.flow_producer import MinimalQueue
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from corral.connection import engine_connection
from corral.contracts.base import EnqueueOptions, QueueConfig
from corral.errors import (
    ConflictError,
    EnqueueError,
    FieldError,
    InvalidRequestError,
    JobFailure,
    NotFoundError,
    UnrecoverableJobError,
)
from corral.jobs import JOB_STATES
from corral.keys import Keys

logger = logging.getLogger(__name__)

# BullMQ's built-in exponential backoff, with its `jitter` option, which Node BullMQ workers honour. bullmq's Python
# port ignores `jitter`, so Corral's workers compute these delays themselves (the same formula, `backoff_delay`).
BACKOFF_TYPE = "exponential"
# What jobs enqueued by earlier Corral versions carry; still understood by Corral's workers.
LEGACY_BACKOFF_TYPE = "corral-exponential"
MAX_DELAY_MS = 365 * 86_400_000
MAX_PRIORITY = 2_097_152


CONNECT_TIMEOUT_SECONDS = 5.0

# A job's trace context (see corral.tracing), in its options, never its payload: `tm` is the option in which BullMQ's
# own telemetry keeps a job's propagation metadata (Node BullMQ reads it as `opts.telemetry.metadata`);
# `corralTraceLink` is Corral's own, the original job's context that a replayed job links to. Both are JSON text.
TRACE_OPTION = "tm"
TRACE_LINK_OPTION = "corralTraceLink"


def _tune_connections(backend: Any, connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Give bullmq's own clients Corral's connection policy, before their first command.

    bullmq builds its clients with redis-py's default socket timeout and 20 retries backing off up to 20 s on any
    timeout. The worker's BZPOPMIN waits as long as that socket timeout (5 s), so an idle worker's wait timed out
    client-side, was retried after a back-off, and a job that arrived meanwhile waited 1-6 s to start; and a
    producer facing a dead server blocked for minutes. Here: no socket timeout (a blocking wait ends on the
    server's answer; dead peers are found by keep-alive and health checks), a bounded connect timeout, and three
    quick retries for a connection that died in the pool.
    """
    for connection in (getattr(backend, "connection", None), getattr(backend, "blocking_connection", None)):
        if connection is None:
            continue
        client = connection.conn
        if not hasattr(client, "connection_pool"):
            continue  # a cluster client, built by `engine_connection` with this policy
        client.connection_pool.connection_kwargs.update(
            socket_timeout=None,
            socket_connect_timeout=connect_timeout,
            socket_keepalive=True,
            health_check_interval=30,
        )
        client.set_retry(Retry(ExponentialBackoff(cap=0.5, base=0.05), 3))


def backoff_delay(attempts_made: int, base_ms: int, jitter: float, rng: Callable[[], float] = random.random) -> int:
    """Exponential backoff: base x 2^(n-1), less a random share of up to `jitter` of it."""
    delay = base_ms * (2 ** max(attempts_made - 1, 0))
    return int(round(delay * (1.0 - jitter * rng())))


def _backoff_strategy(attempts_made: int, _type: str, _err: Exception, job: Job) -> int:
    backoff = job.opts.get("backoff") or {}
    return backoff_delay(attempts_made, int(backoff.get("delay", 0)), float(backoff.get("jitter", 0.0)))


def idempotent_job_id(name: str, key: str) -> str:
    """The job id that an idempotency key maps to: the same key for the same job name makes the same id."""
    if not 1 <= len(key) <= 256:
        raise EnqueueError("idempotency_key: between 1 and 256 characters")
    return "k-" + hashlib.sha256(f"{name}\x00{key}".encode()).hexdigest()[:40]


def job_options(name: str, config: QueueConfig, options: EnqueueOptions) -> dict[str, Any]:
    """bullmq job options from a queue's config and one enqueue's options; refuses bad values."""
    opts: dict[str, Any] = {
        "attempts": config.attempts,
        "backoff": {"type": BACKOFF_TYPE, "delay": config.backoff_ms, "jitter": config.backoff_jitter},
        "removeOnComplete": config.keep_completed.as_keep_jobs(),
        "removeOnFail": config.keep_failed.as_keep_jobs(),
    }
    if not 0 <= options.delay_ms <= MAX_DELAY_MS:
        raise EnqueueError(f"delay_ms: between 0 and {MAX_DELAY_MS}")
    if options.delay_ms:
        opts["delay"] = options.delay_ms
    if not 0 <= options.priority <= MAX_PRIORITY:
        raise EnqueueError(f"priority: between 0 (none) and {MAX_PRIORITY}; 1 is the highest")
    if options.priority:
        opts["priority"] = options.priority
    if options.attempts is not None:
        if not 1 <= options.attempts <= 100:
            raise EnqueueError("attempts: between 1 and 100")
        opts["attempts"] = options.attempts
    if options.idempotency_key is not None:
        opts["jobId"] = idempotent_job_id(name, options.idempotency_key)
    return opts


def with_trace(opts: dict[str, Any], carrier: str | None, link: str | None = None) -> dict[str, Any]:
    """The job options with a trace context (and a link) added; the same dict when there is neither."""
    if carrier is None and link is None:
        return opts
    traced = dict(opts)
    if carrier is not None:
        traced[TRACE_OPTION] = carrier
    if link is not None:
        traced[TRACE_LINK_OPTION] = link
    return traced


def trace_of(opts: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The trace context a job's options carry, and the one a replayed job links to (JSON text each), if any."""
    carrier, link = opts.get(TRACE_OPTION), opts.get(TRACE_LINK_OPTION)
    return carrier if isinstance(carrier, str) else None, link if isinstance(link, str) else None


@dataclass(frozen=True)
class FinishedSpan:
    """The finished jobs of one state of a queue: how many, how many before a time, and the oldest one's finish."""

    total: int
    before: int
    oldest_ms: int | None


@dataclass(frozen=True)
class JobRecord:
    """A snapshot of one job as stored by the engine."""

    id: str
    queue: str
    name: str
    data: dict[str, Any]
    state: str
    attempts_made: int
    attempts: int
    progress: Any
    failed_reason: str | None
    return_value: Any
    timestamp: int
    processed_on: int | None
    finished_on: int | None
    delay_ms: int
    priority: int
    opts: dict[str, Any] = field(default_factory=dict)
    stacktrace: list[str] = field(default_factory=list)
    attempts_started: int = 0
    stalled_count: int = 0
    due_at: int | None = None


@dataclass(frozen=True)
class UnstartedChildren:
    """Jobs not started yet that parent jobs wait for, and those parents by job name."""

    children: int
    parents: dict[str, int]
    scanned: int
    truncated: bool


def _record(queue: str, job: Job, state: str) -> JobRecord:
    return JobRecord(
        id=str(job.id),
        queue=queue,
        name=str(job.name),
        data=job.data if isinstance(job.data, dict) else {"_value": job.data},
        state=state,
        attempts_made=int(job.attemptsMade or 0),
        attempts=int(job.opts.get("attempts") or 1),
        progress=job.progress,
        failed_reason=job.failedReason,
        return_value=job.returnvalue,
        timestamp=int(job.timestamp or 0),
        processed_on=job.processedOn or None,
        finished_on=job.finishedOn or None,
        delay_ms=int(job.delay or 0),
        priority=int(job.priority or 0),
        opts=dict(job.opts or {}),
        stacktrace=[str(line) for line in (job.stacktrace or [])],
        attempts_started=int(job.attemptsStarted or 0),
        stalled_count=int(job.stalledCounter or 0),
    )


# The fields of a failed job's hash that a DLQ capture copies, in the order its script reads them (as HMGET
# arguments): finished at, name, data, options, failed reason, stack trace, attempts made, queued at, started at.
FAILED_JOB_FIELDS = (
    "finishedOn",
    "name",
    "data",
    "opts",
    "failedReason",
    "stacktrace",
    "atm",
    "timestamp",
    "processedOn",
)


class StoredJobs:
    """What other services read of the jobs bullmq stores, on their own Redis client: the failed jobs the DLQ
    captures and sweeps, and when waiting jobs became ready (monitoring's wait times). Besides the Engine, the only
    code that knows bullmq's key names and job fields."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        # `FAILED_JOB_FIELDS` as JSON: the argument a capture script reads them with.
        self.failed_fields = json.dumps(FAILED_JOB_FIELDS, separators=(",", ":"))

    def failed_job_keys(self, queue: str, job_id: str) -> list[str]:
        """The keys a script reading one failed job is given: the job's hash, then its queue's failed set (scored by
        finish time)."""
        return [self.keys.job(queue, job_id), self.keys.queue(queue, "failed")]

    async def failed_reason(self, queue: str, job_id: str) -> str:
        """The failure reason stored with a job (empty when it has none or is gone)."""
        return str(await self.redis.hget(self.keys.job(queue, job_id), "failedReason") or "")

    async def failed_since(self, queue: str, finished_from_ms: int, offset: int, count: int) -> list[tuple[str, int]]:
        """Up to `count` failed jobs of a queue that finished at or after `finished_from_ms`, oldest first, from
        position `offset`: (job id, finished at in epoch ms)."""
        found: list[tuple[str, float]] = await self.redis.zrangebyscore(
            self.keys.queue(queue, "failed"), finished_from_ms, "+inf", start=offset, num=count, withscores=True
        )  # type: ignore[assignment]
        return [(str(job_id), int(score)) for job_id, score in found]

    async def read_failed(self, queue: str, job_id: str) -> tuple[int | None, list[str | None]]:
        """A failed job's finish time (its score in the failed set; None when it is not failed) and the fields the
        DLQ keeps (`FAILED_JOB_FIELDS`, None for a missing one), read together in one MULTI/EXEC on its slot."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zscore(self.keys.queue(queue, "failed"), job_id)
            pipe.hmget(self.keys.job(queue, job_id), FAILED_JOB_FIELDS)
            score, fields = await pipe.execute()
        return (None if score is None else int(score)), list(fields)

    async def is_failed(self, queue: str, job_id: str) -> bool:
        """Whether the job is in its queue's failed set."""
        return await self.redis.zscore(self.keys.queue(queue, "failed"), job_id) is not None

    async def oldest_waiting(self, queues: Sequence[str]) -> list[str | None]:
        """The id of each queue's oldest waiting job (the tail of its waiting list, where a paused queue keeps its
        jobs too), None when none waits; one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.lindex(self.keys.queue(queue, "wait"), -1)
            tails: list[str | None] = await pipe.execute()
        return [str(job_id) if job_id else None for job_id in tails]

    async def ready_times(self, jobs: Sequence[tuple[str, str]]) -> list[int | None]:
        """When each (queue, job id) became ready to run: queued at plus its delay, in epoch ms; None for a job gone
        (removed by its queue's retention). One round trip."""
        if not jobs:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue, job_id in jobs:
                pipe.hmget(self.keys.job(queue, job_id), "timestamp", "delay")
            rows = await pipe.execute()
        return [None if queued is None else int(queued) + int(delay or 0) for queued, delay in rows]


class Engine:
    """Producer-side access to the queues of one Redis/Valkey server."""

    def __init__(self, redis_url: str, keys: Keys, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        self.redis_url = redis_url
        self.keys = keys
        self.connect_timeout = connect_timeout
        self._queues: dict[str, Queue] = {}

    def _queue(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = Queue(
                name, {"connection": engine_connection(self.redis_url), "prefix": self.keys.queue_prefix(name)}
            )
            _tune_connections(queue.backend, self.connect_timeout)
            self._queues[name] = queue
        return queue

    async def add(self, queue: str, name: str, data: Mapping[str, Any], opts: dict[str, Any]) -> str:
        """Add one job; returns its id (the existing job's id when its idempotent id is taken)."""
        job = await self._queue(queue).add(name, dict(data), opts)
        return str(job.id)

    async def add_bulk(self, queue: str, items: Sequence[tuple[str, Mapping[str, Any], dict[str, Any]]]) -> list[str]:
        """Add many jobs to one queue in one atomic transaction; returns their ids in order."""
        jobs = await self._queue(queue).addBulk(
            [{"name": name, "data": dict(data), "opts": opts} for name, data, opts in items]
        )
        return [str(job.id) for job in jobs]

    async def counts(self, queue: str) -> dict[str, int]:
        """Number of jobs in every state of one queue."""
        raw = await self._queue(queue).getJobCounts(*(state.value for state in JOB_STATES))
        return {state.value: int(raw.get(state.value, 0)) for state in JOB_STATES}

    async def get_job(self, queue: str, job_id: str) -> JobRecord | None:
        """One job with its state, or None when it does not exist (any more).

        The job's hash and its state are two reads; they are retried until the state is the same before and after
        the hash was read, so a job seen as finished also carries its result and attempt count.
        """
        bull_queue = self._queue(queue)
        for _ in range(5):
            before = str(await bull_queue.getJobState(job_id))
            job = await Job.fromId(bull_queue, job_id)
            if job is None:
                return None
            after = str(await bull_queue.getJobState(job_id))
            if before == after:
                break
        return _record(queue, job, after)

    async def list_jobs(self, queue: str, state: str, start: int, end: int, ascending: bool = False) -> list[JobRecord]:
        """Jobs of one state by position (newest first unless `ascending`), `end` inclusive."""
        jobs = await self._queue(queue).getJobs([state], start, end, ascending)
        return [_record(queue, job, state) for job in jobs]

    async def job_logs(self, queue: str, job_id: str, limit: int = 500) -> tuple[list[str], int]:
        """The last `limit` log lines of a job, oldest first, and how many it has in all."""
        result = await self._queue(queue).getJobLogs(job_id, -limit, -1, True)
        return [str(line) for line in result.get("logs", [])], int(result.get("count", 0))

    async def _existing(self, queue: str, job_id: str) -> Job:
        job = await Job.fromId(self._queue(queue), job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r} in queue {queue!r}")
        return job

    async def retry_job(self, queue: str, job_id: str) -> None:
        """Move a failed or completed job back to waiting, with its attempts reset."""
        job = await self._existing(queue, job_id)
        state = await self._queue(queue).getJobState(job_id)
        if state not in ("failed", "completed"):
            raise ConflictError(f"job {job_id} is {state}; only failed or completed jobs can be retried")
        try:
            await job.retry(str(state), {"resetAttemptsMade": True, "resetAttemptsStarted": True})
        except Exception as exc:
            raise ConflictError(f"job {job_id} could not be retried: {exc}") from None

    async def remove_job(self, queue: str, job_id: str) -> None:
        """Delete a job that is not being processed."""
        await self._existing(queue, job_id)
        removed = await self._queue(queue).remove(job_id)
        if not removed:
            raise ConflictError(f"job {job_id} is locked by a worker; it can be removed once it is not active")

    async def promote_job(self, queue: str, job_id: str) -> None:
        """Run a delayed job now."""
        job = await self._existing(queue, job_id)
        state = await self._queue(queue).getJobState(job_id)
        if state != "delayed":
            raise ConflictError(f"job {job_id} is {state}; only delayed jobs can be promoted")
        await job.promote()

    async def pause(self, queue: str) -> None:
        """Stop workers from taking jobs of this queue (active jobs finish)."""
        await self._queue(queue).pause()

    async def resume(self, queue: str) -> None:
        """Let workers take jobs of this queue again."""
        await self._queue(queue).resume()

    async def is_paused(self, queue: str) -> bool:
        """Whether the queue is paused."""
        return bool(await self._queue(queue).isPaused())

    async def due_times(self, queue: str, job_ids: Sequence[str]) -> dict[str, int]:
        """When each delayed job is due (epoch ms), from its score in the queue's delayed set."""
        if not job_ids:
            return {}
        scores = await self._queue(queue).client.zmscore(self.keys.queue(queue, "delayed"), list(job_ids))
        # bullmq scores a delayed job as due time * 4096 + a counter that keeps equal times in order.
        return {job_id: int(score) // 4096 for job_id, score in zip(job_ids, scores, strict=True) if score is not None}

    async def parents_waiting_on_unstarted(self, queue: str, limit: int = 50_000) -> UnstartedChildren:
        """Jobs that have not started and that other jobs (a flow's parent, such as a workflow run) wait for:
        how many, and their parents counted by the parent's job name. Scans at most `limit` jobs."""
        client = self._queue(queue).client
        ids: list[str] = []
        for state, kind in (("wait", "list"), ("paused", "list"), ("prioritized", "zset"), ("delayed", "zset")):
            key = self.keys.queue(queue, state)
            room = limit - len(ids)
            if room <= 0:
                break
            found = await (client.lrange(key, 0, room - 1) if kind == "list" else client.zrange(key, 0, room - 1))
            ids += [item.decode() if isinstance(item, bytes) else str(item) for item in found]
        parents: set[str] = set()
        children = 0
        for start in range(0, len(ids), 1_000):
            async with client.pipeline(transaction=False) as pipe:
                for job_id in ids[start : start + 1_000]:
                    pipe.hget(self.keys.job(queue, job_id), "parentKey")
                found = await pipe.execute()
            for parent in found:
                if parent:
                    children += 1
                    parents.add(parent.decode() if isinstance(parent, bytes) else str(parent))
        by_name: dict[str, int] = {}
        ordered = sorted(parents)
        for start in range(0, len(ordered), 1_000):
            async with client.pipeline(transaction=False) as pipe:
                for parent in ordered[start : start + 1_000]:
                    pipe.hget(parent, "name")
                names = await pipe.execute()
            for name in names:
                label = (name.decode() if isinstance(name, bytes) else str(name)) if name else "unknown"
                by_name[label] = by_name.get(label, 0) + 1
        return UnstartedChildren(children, by_name, len(ids), len(ids) >= limit)

    async def purge(self, queue: str) -> None:
        """Remove every job that has not started: waiting, prioritized, paused and delayed."""
        await self._queue(queue).drain(True)

    async def obliterate(self, queue: str) -> None:
        """Remove every job of the queue in every state, active ones included, and its event stream."""
        await self._queue(queue).obliterate(force=True)

    async def clean(self, queue: str, state: str, older_than_ms: int, limit: int = 10_000) -> int:
        """Remove up to `limit` jobs in `state` (completed, failed, ...) finished more than `older_than_ms` ago."""
        removed = await self._queue(queue).clean(older_than_ms, limit, state)
        return len(removed or [])

    async def trim_events(self, queue: str, older_than_ms: int, redis: Redis) -> int:
        """Drop entries of the queue's event stream older than `older_than_ms`; returns how many."""
        stream = self.keys.queue(queue, "events")
        cutoff = max(int(time.time() * 1000) - older_than_ms, 0)
        return int(await redis.xtrim(stream, minid=f"{cutoff}-0", approximate=False))

    async def finished_span(self, queue: str, state: str, before_ms: int, redis: Redis) -> FinishedSpan:
        """How many `state` jobs (completed or failed) the queue keeps, how many finished before `before_ms`, and
        when the oldest finished."""
        key = self.keys.queue(queue, state)
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zcount(key, "-inf", f"({before_ms}")
            pipe.zrange(key, 0, 0, withscores=True)
            total, before, oldest = await pipe.execute()
        return FinishedSpan(int(total), int(before), int(oldest[0][1]) if oldest else None)

    async def close(self) -> None:
        """Close every queue connection."""
        queues, self._queues = self._queues, {}
        await asyncio.gather(*(queue.close() for queue in queues.values()), return_exceptions=True)


def _unchanged(value: Any) -> Any:
    return value


# (job name, job data, value) -> the value with the exact text of that payload's secret values masked.
Redactor = Callable[[str, Any, Any], Any]


class _RedactedError(Exception):
    """A failed attempt's error as it is stored: its message with the job's secret values masked."""


@dataclass
class RunningJob:
    """What a handler runner sees of the job being processed."""

    id: str
    queue: str
    name: str
    data: Any
    attempt: int
    attempts: int
    _job: Job
    on_progress: Callable[[RunningJob, Any], Awaitable[None]] | None = None
    trace: str | None = None
    trace_link: str | None = None
    # Replaces the exact text of this job's secret payload values with the mask in what it writes out.
    redact: Callable[[Any], Any] = _unchanged
    # The key names of the server the job runs on (a cluster gives each queue its own prefix).
    keys: Keys = field(default_factory=lambda: Keys("corral"))

    async def report_progress(self, progress: int | float | Mapping[str, Any]) -> None:
        """Store the job's progress (a percentage or a small document) and tell `on_progress` (the runtime's
        hooks), whoever reports it: a handler through its context or code holding the running job."""
        value = progress if isinstance(progress, int | float) else self.redact(dict(progress))
        await self._job.updateProgress(value)
        if self.on_progress is not None:
            await self.on_progress(self, value)

    async def log(self, line: str) -> None:
        """Append a line to the job's log (secret payload values masked)."""
        await self._job.log(self.redact(line))

    async def add_children(self, children: Sequence[ChildJob]) -> list[str]:
        """Add jobs, on any queues, that this job waits for; all in one transaction. Returns their ids.

        An id already taken keeps its job (adding again is harmless). A child that dies still wakes this
        job once its siblings are done, and shows up among `children_outcomes()` as failed.
        """
        if not children:
            return []
        job = self._job
        keys = self.keys
        own = keys.queue_prefix(self.queue)
        parent = {"id": self.id, "queue": job.queueQualifiedName}
        entries = []
        for child in children:
            prefix = keys.queue_prefix(child.queue)
            if prefix != own:
                raise JobFailure(
                    f"child job {child.job_id}: queue {child.queue!r} has another hash tag than queue {self.queue!r} "
                    "on this cluster; a flow's queues must share one (QueueConfig.hash_tag)"
                )
            opts = {**child.opts, "jobId": child.job_id, "parent": parent, "ignoreDependencyOnFailure": True}
            queue = MinimalQueue(child.queue, job.backend.forQueue(child.queue, prefix), {"prefix": prefix})
            entries.append({"job": Job(queue, child.name, dict(child.data), opts), "is_parent": False})
        results = await job.backend.addFlow(entries)
        for child, result in zip(children, results, strict=True):
            if isinstance(result, int) and result < 0:
                raise JobFailure(f"could not add child job {child.job_id} to queue {child.queue!r} (code {result})")
        return [str(result) for result in results]

    async def wait_for_children(self) -> None:
        """Return when no child is pending; else park this job until they finish, raising WaitingForChildren.

        The handler must let WaitingForChildren propagate: the worker then leaves the job waiting for its
        children, and runs the handler again (same attempt) once they have all finished.
        """
        if await self._job.moveToWaitingChildren(self._job.token, {}):
            raise WaitingForChildren(f"job {self.id} is waiting for its children")

    async def children_outcomes(self) -> list[ChildOutcome]:
        """Every finished child of this job: its result or failure reason, and its timings when still known."""
        job = self._job
        keys = self.keys
        backend = job.backend
        client = backend.connection.conn
        completed: dict[str, Any] = await job.getChildrenValues()
        failed: dict[str, str] = await client.hgetall(backend.toKey(f"{self.id}:failed"))
        finished: list[tuple[str, bool, Any, str | None]] = [
            (key, True, value, None) for key, value in completed.items()
        ]
        finished.extend((key, False, None, reason) for key, reason in failed.items())
        async with client.pipeline(transaction=False) as pipe:
            for key, *_ in finished:
                pipe.hmget(key, "processedOn", "finishedOn", "atm")
            timings = await pipe.execute() if finished else []
        outcomes = []
        for (key, succeeded, value, reason), (started, ended, attempts) in zip(finished, timings, strict=True):
            queue, job_id = keys.parse_job_key(key)
            outcomes.append(
                ChildOutcome(
                    queue=queue,
                    job_id=job_id,
                    succeeded=succeeded,
                    result=value,
                    reason=reason,
                    started_at=int(started) if started else None,
                    finished_at=int(ended) if ended else None,
                    attempts_made=int(attempts or 0),
                )
            )
        return outcomes


class WaitingForChildren(WaitingChildrenError):  # type: ignore[misc]
    """Raised by `RunningJob.wait_for_children` to tell the worker to leave the job waiting for its children."""


@dataclass(frozen=True)
class ChildJob:
    """A job to run as a child of the running job, on its own queue; `opts` as built by `job_options`."""

    queue: str
    name: str
    data: Mapping[str, Any]
    opts: dict[str, Any]
    job_id: str


@dataclass(frozen=True)
class ChildOutcome:
    """How one child of the running job finished; times in epoch milliseconds."""

    queue: str
    job_id: str
    succeeded: bool
    result: Any
    reason: str | None
    started_at: int | None
    finished_at: int | None
    attempts_made: int


@dataclass(frozen=True)
class FailureNotice:
    """What a consumer tells the runtime after an attempt failed."""

    job: RunningJob
    reason: str
    final: bool
    retry_delay_ms: int = 0
    dlq_entry_id: str | None = None


ProcessFn = Callable[[RunningJob], Awaitable[Any]]
FailureFn = Callable[[FailureNotice], Awaitable[None]]
StalledFn = Callable[[str, str], Awaitable[None]]


class RepeatedErrorLog:
    """Logs an error line once, then the same line at most once per `every` seconds with how often it recurred.

    A worker retries a lost server every second on each queue; without this, an outage or a full disk fills the
    log with the same line many times a second.
    """

    def __init__(
        self, every: float = 30.0, clock: Callable[[], float] = time.monotonic, log: logging.Logger | None = None
    ) -> None:
        self.every = every
        self.clock = clock
        self._log = log or logger
        self._seen: dict[str, tuple[float, int]] = {}

    def report(self, line: str) -> None:
        """Log `line` unless it was logged less than `every` seconds ago (then count it)."""
        now = self.clock()
        last = self._seen.get(line)
        if last is not None and now - last[0] < self.every:
            self._seen[line] = (last[0], last[1] + 1)
            return
        repeats = f" (and {last[1]} more times in the last {now - last[0]:.0f}s)" if last and last[1] else ""
        self._log.error("%s%s", line, repeats)
        if len(self._seen) > 100:
            self._seen.clear()
        self._seen[line] = (now, 0)


class _CorralWorker(Worker):  # type: ignore[misc]
    """bullmq's Worker whose jobs die through Corral's atomic move-to-failed-and-capture."""

    corral_consumer: QueueConsumer
    fetching = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Finishing a job fetches the next one in the same script call (bullmq's fetch-next, which its Python worker
        # never asks for): one round trip per job instead of two. The next job's data waits here, by token, until
        # processJob hands it back to the run loop, which runs it as it runs a fetched job.
        self._fetched_next: dict[str, list[Any]] = {}
        self._chaining: set[str] = set()
        self._move_to_completed = self.backend.moveToCompleted
        self.backend.moveToCompleted = self._complete_and_fetch_next

    async def _complete_and_fetch_next(
        self, job: Job, result: Any, remove: Any, token: str, fetch_next: bool = False
    ) -> dict[str, Any]:
        if self.paused or self.closing or self.forceClosing:
            return cast(dict[str, Any], await self._move_to_completed(job, result, remove, token, fetch_next=False))
        self.fetching += 1  # counted as a fetch until processJob has handed the next job over
        self._chaining.add(token)
        finished = cast(dict[str, Any], await self._move_to_completed(job, result, remove, token, fetch_next=True))
        if finished.get("result"):
            self._fetched_next[token] = finished["result"]
        return finished

    async def processJob(self, job: Job, token: str) -> Job | None:
        try:
            await super().processJob(job, token)
            fetched = self._fetched_next.pop(token, None)
            if fetched is None:
                return None
            job_data, job_id, limit_until, delay_until = fetched
            next_job = await self.nextJobFromJobData(
                job_data, job_id, int(limit_until or 0), int(delay_until or 0), token
            )
            if next_job is not None:
                self.emit("active", next_job, "waiting")
            return next_job
        finally:
            # A cancelled job leaves a fetched next job active; stalled-job recovery hands it to a worker again.
            self._fetched_next.pop(token, None)
            if token in self._chaining:
                self._chaining.discard(token)
                self.fetching -= 1

    async def getNextJob(self, token: str) -> Job | None:
        # A fetch that failed (its wait was cancelled by pause) is retried by bullmq after `runRetryDelay`; while
        # paused or closing, that retry must not take a job.
        if self.paused or self.closing:
            return None
        self.fetching += 1
        try:
            return await super().getNextJob(token)
        finally:
            self.fetching -= 1

    async def nextJobFromJobData(self, *args: Any, **kwargs: Any) -> Job | None:
        job = await super().nextJobFromJobData(*args, **kwargs)
        if job is not None:
            job.moveToFailed = functools.partial(self.corral_consumer.move_to_failed, job)
        elif self.limitUntil > 0:
            # Rate limited: bullmq 3.4's Python worker records how long the limit lasts but never waits for it, so
            # a limited queue stalls until something else wakes the worker. Block until the limit expires instead.
            self.blockUntil = int(time.time() * 1000) + int(self.limitUntil)
        return job


def _is_final(job: Job, err: BaseException) -> bool:
    return bool(
        isinstance(err, UnrecoverableError)
        or job.discarded
        or (job.attemptsMade + 1) >= int(job.opts.get("attempts") or 1)
    )


class DeadLetterSink(Protocol):
    """Where a job's final failure is recorded (the DLQ store): in the same MULTI/EXEC as its move to failed on one
    server, right after it on a cluster (its sweeper captures a failure a crash left between the two)."""

    @property
    def atomic_with_engine(self) -> bool:
        """Whether `capture_in` can share the move's transaction."""

    async def capture_in(self, pipe: Pipeline, queue: str, job_id: str, reason: str) -> None:
        """Queue the capture of one failed job on `pipe`."""

    async def capture(self, queue: str, job_id: str, reason: str | None = None) -> str | None:
        """Capture one job already in its queue's failed set; its entry id."""


class QueueConsumer:
    """Consumes one queue with a bullmq Worker and routes dead jobs to the DLQ atomically."""

    def __init__(
        self,
        *,
        redis_url: str,
        redis: Redis,
        keys: Keys,
        config: QueueConfig,
        dlq: DeadLetterSink,
        process: ProcessFn,
        on_failure: FailureFn,
        on_stalled: StalledFn,
        lock_duration_ms: int = 30_000,
        stalled_interval_ms: int = 5_000,
        max_stalled_count: int = 1,
        worker_name: str | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.config = config
        self.keys = keys
        self._redact = redact
        self.redis = redis
        self.dlq = dlq
        self._process = process
        self._on_failure = on_failure
        self._on_stalled = on_stalled
        self._redis_url = redis_url
        opts: dict[str, Any] = {
            "prefix": keys.queue_prefix(config.name),
            "autorun": False,
            "concurrency": config.concurrency,
            "lockDuration": lock_duration_ms,
            "stalledInterval": stalled_interval_ms,
            "maxStalledCount": max_stalled_count,
            # After a failed fetch (server gone), try again in a second, not bullmq's 15 s.
            "runRetryDelay": 1_000,
            "settings": {"backoffStrategy": _backoff_strategy},
            "removeOnComplete": config.keep_completed.as_keep_jobs(),
            "removeOnFail": config.keep_failed.as_keep_jobs(),
        }
        if worker_name:
            opts["name"] = worker_name
        if config.rate_limit is not None:
            opts["limiter"] = {"max": config.rate_limit.max_jobs, "duration": config.rate_limit.per_ms}
        self._worker_opts = opts
        self._worker: _CorralWorker | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._errors = RepeatedErrorLog()

    @property
    def queue(self) -> str:
        """The consumed queue's name."""
        return self.config.name

    @property
    def active_count(self) -> int:
        """Jobs this consumer is processing now."""
        return len(self._worker.jobs) if self._worker is not None else 0

    async def start(self) -> None:
        """Create the worker and start fetching jobs."""
        opts = {**self._worker_opts, "connection": engine_connection(self._redis_url)}
        worker = _CorralWorker(self.queue, self._run_job, opts)
        worker.corral_consumer = self
        _tune_connections(worker.backend)
        # bullmq 3.4 never reads the server version on the blocking connection, so it assumes the server
        # cannot block for fractions of a second and rounds every wait up to 1 s: retries and delayed jobs
        # then start up to a second late. Reading the version restores sub-second waits.
        await worker.blockingRedisConnection.getRedisVersion()
        # bullmq names its connections as the first step of run(); a close() arriving during that step resets the
        # pool under the call, which then fails and leaves its connection open. Name them here, before run().
        await worker._ensure_client_names()
        worker.on("stalled", self._stalled)
        worker.on("error", self._error)
        self._worker = worker
        self._task = asyncio.create_task(worker.run(), name=f"corral-worker-{self.queue}")

    async def close(self, grace_seconds: float) -> None:
        """Stop fetching, let active jobs finish for up to `grace_seconds`, then abandon them to stall recovery."""
        worker = self._worker
        if worker is None:
            return
        # Pause first: bullmq's close() leaves its run loop, and with it the lock renewal, while jobs are still
        # active, so a job outliving its lock would be taken for stalled. Pausing waits with renewal running.
        pausing = asyncio.create_task(worker.pause())
        await asyncio.sleep(0)  # pause() stops new fetches before its first await
        # Fetches already sent may still bring a job (it is then run within the grace period like the others).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while worker.fetching:
                    await asyncio.sleep(0.005)
        logger.info("queue %s: taking no new jobs; %d still active", self.queue, len(worker.jobs))
        done, _ = await asyncio.wait({pausing}, timeout=grace_seconds)
        if not done:
            logger.warning(
                "queue %s: %d job(s) still active after %.1fs; leaving them to stalled-job recovery",
                self.queue,
                len(worker.jobs),
                grace_seconds,
            )
            worker.forceClosing = True
            worker.cancelProcessing()
            await asyncio.wait({pausing}, timeout=5)
        await asyncio.wait({asyncio.create_task(worker.close(force=not done))}, timeout=5)
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=5)
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        self._worker = None

    def _stalled(self, job_id: str, *_: Any) -> None:
        task = asyncio.ensure_future(self._on_stalled(self.queue, str(job_id)))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _error(self, err: BaseException, *_: Any) -> None:
        self._errors.report(f"queue {self.queue}: worker error: {err}")

    def _view(self, job: Job) -> RunningJob:
        return RunningJob(
            id=str(job.id),
            queue=self.queue,
            name=job.name,
            data=job.data,
            attempt=int(job.attemptsMade) + 1,
            attempts=int(job.opts.get("attempts") or 1),
            _job=job,
            trace=job.opts.get(TRACE_OPTION),
            trace_link=job.opts.get(TRACE_LINK_OPTION),
            redact=functools.partial(self._redact, job.name, job.data) if self._redact is not None else _unchanged,
            keys=self.keys,
        )

    def _redact_stacktrace(self, job: Job, view: RunningJob) -> None:
        # bullmq appends the handled exception's traceback, whose text quotes the error's message.
        Job.updateStacktrace(job)
        job.stacktrace = [view.redact(line) if isinstance(line, str) else line for line in job.stacktrace]

    async def _run_job(self, job: Job, _token: str) -> Any:
        try:
            return await self._process(self._view(job))
        except UnrecoverableJobError as exc:
            raise UnrecoverableError(str(exc)) from exc

    async def move_to_failed(self, job: Job, err: Exception, token: str, fetch_next: bool = False) -> Any:
        """Fail one attempt: retry with backoff while attempts remain, else move to failed and into the DLQ at once."""
        view = self._view(job)
        # A reason or stack trace quoting the payload must not carry its secrets into the job, the DLQ, its search,
        # failure groups, events or logs: they are masked before anything is stored.
        reason = view.redact(str(err))
        job.updateStacktrace = functools.partial(self._redact_stacktrace, job, view)
        if not _is_final(job, err):
            backoff = job.opts.get("backoff")
            if isinstance(backoff, dict) and backoff.get("type") == BACKOFF_TYPE and backoff.get("jitter"):
                # bullmq's Python built-in would drop the jitter: route it to Corral's strategy, which keeps it.
                job.opts = {**job.opts, "backoff": {**backoff, "type": LEGACY_BACKOFF_TYPE}}
            stored = err if reason == str(err) else _RedactedError(reason)
            result = await Job.moveToFailed(job, stored, token, fetch_next)
            await self._on_failure(FailureNotice(view, reason, final=False, retry_delay_ms=int(job.delay or 0)))
            return result
        job.failedReason = reason
        job.updateStacktrace()
        fields = {"failedReason": reason, "stacktrace": json.dumps(job.stacktrace, separators=(",", ":"))}
        scripts = job.backend.scripts
        keys, args = scripts.moveToFailedArgs(job, reason, job.opts.get("removeOnFail", False), token, False, fields)
        if self.dlq.atomic_with_engine:
            # One MULTI/EXEC: the job reaches the failed set and its DLQ entry together, or neither does.
            async with self.redis.pipeline(transaction=True) as pipe:
                await scripts.commands["moveToFinished"](keys=keys, args=args, client=pipe)
                await self.dlq.capture_in(pipe, self.queue, str(job.id), reason)
                moved, entry_id = await pipe.execute()
        else:
            # On a cluster the move and the capture are on two slots: the capture follows, keyed by the failure
            # (queue, job id, finish time) so that the sweeper's capture of a failure a crash left behind and this
            # one make one entry.
            moved = await scripts.commands["moveToFinished"](keys=keys, args=args)
            entry_id = None
        if isinstance(moved, int) and moved < 0:
            raise scripts.finishedErrors(
                {"code": moved, "jobId": job.id, "command": "moveToFinished", "state": "active"}
            )
        if not self.dlq.atomic_with_engine:
            entry_id = await self.dlq.capture(self.queue, str(job.id), reason)
        job.finishedOn = args[1]
        job.attemptsMade += 1
        await self._on_failure(
            FailureNotice(view, reason, final=True, dlq_entry_id=str(entry_id) if entry_id else None)
        )
        return None


# Job schedulers (bullmq's repeatable jobs): a scheduler is a record in the queue's `repeat` set that owns one delayed
# job, its next run; the worker that takes that job adds the one after. Node BullMQ's schedulers are the same records.


@dataclass(frozen=True)
class SchedulerRecord:
    """One bullmq job scheduler of a queue: its repeat rule, its job template and when it runs next (epoch ms)."""

    queue: str
    id: str
    job_name: str
    every_ms: int | None
    pattern: str | None
    tz: str | None
    next_run: int | None
    data: Any
    opts: dict[str, Any]
    iterations: int | None = None
    bounds: dict[str, int] = field(default_factory=dict)


SCHEDULER_BOUNDS = ("limit", "startDate", "endDate", "offset")


def next_cron_run(pattern: str, tz: str | None, after_ms: int) -> int:
    """When the cron `pattern` (5 fields, or 6 with seconds first, as BullMQ reads it) fires next after `after_ms`.

    Raises InvalidRequestError naming `cron` or `tz` when either is not understood.
    """
    from bullmq.job_scheduler import default_repeat_strategy

    if tz:
        try:
            default_repeat_strategy(after_ms, {"pattern": "* * * * *", "tz": tz})
        except Exception:  # zoneinfo raises KeyError, ValueError or OSError for names it cannot load
            reason = "unknown time zone"
            raise InvalidRequestError(f"tz: {reason} {tz!r}", [FieldError("tz", reason)]) from None
    try:
        found = default_repeat_strategy(after_ms, {"pattern": pattern, **({"tz": tz} if tz else {})})
    except Exception as exc:  # croniter's errors (ValueError), and whatever else a malformed pattern makes it raise
        reason = str(exc).strip("'\"") or type(exc).__name__
        raise InvalidRequestError(f"cron: {reason}", [FieldError("cron", reason)]) from None
    if found is None:
        raise InvalidRequestError("cron: never fires", [FieldError("cron", "never fires")])
    return int(found)


def _scheduler_record(queue: str, raw: Mapping[str, Any]) -> SchedulerRecord:
    template = raw.get("template") or {}
    every = raw.get("every")
    return SchedulerRecord(
        queue=queue,
        id=str(raw.get("key")),
        job_name=str(raw.get("name") or raw.get("key")),
        every_ms=int(every) if every else None,
        pattern=raw.get("pattern") or None,
        tz=raw.get("tz") or None,
        next_run=int(raw["next"]) if raw.get("next") is not None else None,
        data=template.get("data", {}),
        opts=dict(template.get("opts") or {}),
        iterations=raw.get("iterationCount"),
        bounds={name: int(raw[name]) for name in SCHEDULER_BOUNDS if raw.get(name) is not None},
    )


class Schedulers:
    """The job schedulers of the engine's queues: list, read, create or replace, remove."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def of_queue(self, queue: str) -> list[SchedulerRecord]:
        """Every scheduler of one queue, the one due first first."""
        found = await self.engine._queue(queue).getJobSchedulers(0, -1, True)
        return [_scheduler_record(queue, raw) for raw in found if raw.get("key")]

    async def get(self, queue: str, scheduler_id: str) -> SchedulerRecord | None:
        """One scheduler, or None when the queue has none of that id."""
        try:
            raw = await self.engine._queue(queue).getJobScheduler(scheduler_id)
        except ValueError:
            # bullmq 3.4 fails to unpack the script's empty answer for a missing scheduler instead of returning None.
            return None
        return _scheduler_record(queue, raw) if raw else None

    async def upsert(self, record: SchedulerRecord) -> int | None:
        """Create the scheduler, or replace its rule and template (its pending next run is replaced too).

        Returns when it runs next, or None when its bounds (limit, end date) leave no run.
        """
        repeat: dict[str, Any] = {name: value for name, value in record.bounds.items() if name in SCHEDULER_BOUNDS}
        if record.every_ms:
            repeat["every"] = record.every_ms
        else:
            repeat["pattern"] = record.pattern
            if record.tz:
                repeat["tz"] = record.tz
        opts = {key: value for key, value in record.opts.items() if key not in ("repeat", "jobId", "delay")}
        job = await self.engine._queue(record.queue).upsertJobScheduler(
            record.id, repeat, record.job_name, record.data, opts
        )
        if job is None:
            return None
        current = await self.get(record.queue, record.id)
        return current.next_run if current is not None else None

    async def remove(self, queue: str, scheduler_id: str) -> bool:
        """Remove the scheduler and its pending next run; False when there was none."""
        return int(await self.engine._queue(queue).removeJobScheduler(scheduler_id)) == 0
