"""Bulk DLQ tasks: replay or delete every entry of a filter (or replay a list of ids) in the background, throttled,
cancellable, observable.

A task's state lives in Redis, so any process can read or cancel it; the process that runs it renews a heartbeat,
and a running task whose heartbeat stopped (its process died) reads as `abandoned`. A replay task watches its replayed
jobs (see brake.py) and pauses itself when too many die again; any process can resume a paused task from where it
stopped, or cancel it. A replay task may start slowly and ramp up to its rate (see ramp.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from corral.dlq.brake import BrakeLimits, ReplayBrake
from corral.dlq.query import Cursor, DlqFilter, DlqQuery, EntrySummary
from corral.dlq.ramp import FULL, TICK_SECONDS, RateRamp, SlowStart
from corral.dlq.replay import Replayer
from corral.dlq.store import DeadLetterStore
from corral.errors import ConflictError, CorralError, NotFoundError
from corral.keys import Keys

logger = logging.getLogger(__name__)

TaskKind = Literal["replay", "delete"]
ACTIVE = ("running", "cancelling")
STALE_AFTER_MS = 15_000
LOCK_MS = 30_000
REPLAY_CONCURRENCY = 16
WALK_PAGE = 100
# A replay task waiting (for its rate or its slow start's next stage) wakes this often to heartbeat, read the
# outcomes of its jobs and notice a cancel.
WAIT_SLICE_SECONDS = 0.5
MAX_TASKS_LISTED = 100
# Task records kept: past this many, the oldest that ended are deleted as a new task starts. A task that can still go
# on or be cancelled (running, cancelling, paused, abandoned) is kept whatever its age.
KEEP_TASKS = 1_000
ENDED = ("completed", "failed", "cancelled")
SAMPLE_SIZE = 10

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Preview:
    """What a filter-based action would touch: how many entries, a sample, and the queues they came from."""

    count: int
    sample: list[EntrySummary]
    queues: list[str]


@dataclass(frozen=True)
class TaskState:
    """A bulk task as stored: progress counters, state and timings (epoch ms)."""

    id: str
    kind: str
    status: str
    filter: dict[str, Any]
    actor: str
    queues: list[str]
    rate: int
    total: int
    done: int
    succeeded: int
    failed: int
    skipped: int
    created_at: int
    updated_at: int
    finished_at: int | None
    errors: list[str] = field(default_factory=list)
    brake: dict[str, int] = field(default_factory=dict)
    died_again: int = 0
    paused_at: int | None = None
    paused_reason: str | None = None
    paused_fingerprints: list[dict[str, Any]] = field(default_factory=list)
    source: str = "filter"
    slow_start: dict[str, int] = field(default_factory=dict)
    current_rate: int = 0
    ramp_steps: list[dict[str, Any]] = field(default_factory=list)
    max_in_flight: int = 0

    @classmethod
    def from_hash(cls, raw: dict[str, str], now_ms: int, stale_after_ms: int = STALE_AFTER_MS) -> TaskState:
        """The task from its hash; a running task without a recent heartbeat is reported `abandoned`."""
        status = raw.get("status", "running")
        updated = int(raw.get("updatedAt", 0))
        if status in ACTIVE and now_ms - updated > stale_after_ms:
            status = "abandoned"
        return cls(
            id=raw["id"],
            kind=raw["kind"],
            status=status,
            filter=json.loads(raw.get("filter", "{}")),
            actor=raw.get("actor", ""),
            queues=[q for q in raw.get("queues", "").split(",") if q],
            rate=int(raw.get("rate", 0)),
            total=int(raw.get("total", 0)),
            done=int(raw.get("done", 0)),
            succeeded=int(raw.get("succeeded", 0)),
            failed=int(raw.get("failed", 0)),
            skipped=int(raw.get("skipped", 0)),
            created_at=int(raw.get("createdAt", 0)),
            updated_at=updated,
            finished_at=int(raw["finishedAt"]) if raw.get("finishedAt") else None,
            errors=json.loads(raw.get("errors", "[]")),
            brake=json.loads(raw.get("brake", "{}")),
            died_again=int(raw.get("diedAgain", 0)),
            paused_at=int(raw["pausedAt"]) if raw.get("pausedAt") else None,
            paused_reason=raw.get("pausedReason") or None,
            paused_fingerprints=json.loads(raw.get("pausedFingerprints", "[]")),
            source=raw.get("source", "filter"),
            slow_start=json.loads(raw.get("slowStart", "{}")),
            current_rate=int(raw.get("currentRate") or raw.get("rate") or 0),
            ramp_steps=json.loads(raw.get("rampSteps", "[]")),
            max_in_flight=int(raw.get("maxInFlight", 0)),
        )


def _now() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class _Run:
    """What one run of a task needs; `resumed` is the paused state it goes on from."""

    kind: TaskKind
    flt: DlqFilter
    actor: str
    rate: int
    locks: list[str]
    announce: str | None
    brake: BrakeLimits
    since_ms: int
    resumed: TaskState | None = None
    slow: SlowStart = SlowStart()
    ids: list[str] | None = None
    max_in_flight: int = 0


class BulkTasks:
    """Starts, runs, reports and cancels bulk replay and delete tasks; one running replay task per source queue."""

    def __init__(
        self,
        store: DeadLetterStore,
        query: DlqQuery,
        replayer: Replayer,
        rate: int,
        publish: Publish,
        stale_after_ms: int = STALE_AFTER_MS,
        brake: BrakeLimits | None = None,
        slow_start: SlowStart | None = None,
        keep_tasks: int = KEEP_TASKS,
    ) -> None:
        self.store = store
        self.redis = store.redis
        self.keys: Keys = store.keys
        self.query = query
        self.replayer = replayer
        self.rate = rate
        self.publish = publish
        self.stale_after_ms = stale_after_ms
        self.brake = brake or BrakeLimits(threshold=20, window_seconds=60)
        self.slow_start = slow_start or SlowStart()
        self.keep_tasks = keep_tasks
        self._running: dict[str, asyncio.Task[None]] = {}

    async def preview(self, flt: DlqFilter) -> Preview:
        """The count of matching entries, the newest ten, and the queues they belong to."""
        flt = self.query.validate(flt)
        page = await self.query.page(flt, None, SAMPLE_SIZE)
        count = page.total if page.total is not None else await self.query.count(flt)
        if flt.queue:
            queues = [flt.queue] if count else []
        else:
            known: list[str] = await self.redis.zrange(self.keys.dlq_counts("queue"), 0, -1)  # type: ignore[assignment]
            queues = [queue for queue in sorted(known) if await self._matches_in(flt, queue)]
        return Preview(count, page.items, queues)

    async def preview_ids(self, entry_ids: Sequence[str]) -> Preview:
        """What replaying or deleting these ids would touch: the entries that exist, a sample, their queues."""
        rows = json.loads(await self.query.rows(list(entry_ids), "summary"))
        found = [EntrySummary.from_row(row) for row in rows]
        return Preview(len(found), found[:SAMPLE_SIZE], sorted({item.queue for item in found}))

    async def _matches_in(self, flt: DlqFilter, queue: str) -> bool:
        narrowed = DlqFilter(**{**vars(flt), "queue": queue})
        probe = await self.query.page(narrowed, None, 1)
        if probe.items or probe.next_cursor is None:
            return bool(probe.items)
        return await self.query.count(narrowed) > 0

    async def start(
        self,
        kind: TaskKind,
        flt: DlqFilter,
        actor: str,
        rate: int | None = None,
        announce: str | None = None,
        brake: BrakeLimits | None = None,
        slow_start: SlowStart | None = None,
        max_in_flight: int = 0,
    ) -> TaskState:
        """Start a task over every entry of `flt` in this process; refuses a second replay task on a queue.

        `announce` names an event published with the task's outcome when it ends (for example `dlq.cleared`);
        `brake` and `slow_start` override the defaults of a replay task; `max_in_flight` (0: no limit) holds a
        replay task back while that many of its replayed jobs have no outcome yet, so its brake trips after at
        most `threshold + max_in_flight` replays of jobs that keep dying, however fast or slow the workers are.
        """
        preview = await self.preview(flt)
        return await self._start(kind, flt, None, preview, actor, rate, announce, brake, slow_start, max_in_flight)

    async def start_ids(
        self,
        entry_ids: Sequence[str],
        actor: str,
        rate: int | None = None,
        brake: BrakeLimits | None = None,
        slow_start: SlowStart | None = None,
        max_in_flight: int = 0,
    ) -> TaskState:
        """Start a replay task over these entry ids (in the given order, duplicates once), braked and throttled like
        a replay by filter; ids with no entry are counted as skipped. Refuses a second replay task on a queue."""
        unique = list(dict.fromkeys(entry_ids))
        preview = await self.preview_ids(unique)
        return await self._start(
            "replay", DlqFilter(), unique, preview, actor, rate, None, brake, slow_start, max_in_flight
        )

    async def _start(
        self,
        kind: TaskKind,
        flt: DlqFilter,
        ids: list[str] | None,
        preview: Preview,
        actor: str,
        rate: int | None,
        announce: str | None,
        brake: BrakeLimits | None,
        slow_start: SlowStart | None,
        max_in_flight: int,
    ) -> TaskState:
        task_id = secrets.token_hex(6)
        locks = await self._lock_queues(task_id, preview.queues) if kind == "replay" else []
        limits = brake or self.brake
        slow = slow_start or self.slow_start
        rate = rate or self.rate
        now = _now()
        if ids:
            await self.redis.rpush(self.keys.dlq_task_ids(task_id), *ids)
        mapping: dict[str, str | int] = {
            "id": task_id,
            "kind": kind,
            "source": "filter" if ids is None else "ids",
            "status": "running",
            "filter": json.dumps(flt.as_params()),
            "actor": actor,
            "queues": ",".join(preview.queues),
            "rate": rate,
            "total": preview.count if ids is None else len(ids),
            "done": 0,
            "succeeded": 0,
            "failed": 0,
            "skipped": 0,
            "createdAt": now,
            "updatedAt": now,
            "errors": "[]",
            "brake": json.dumps(limits.as_params() if kind == "replay" else {}),
            "diedAgain": 0,
        }
        if kind == "replay":
            mapping["slowStart"] = json.dumps(slow.as_params(rate, limits.window_seconds))
            mapping["currentRate"] = min(rate, slow.start_rate(rate))
            mapping["maxInFlight"] = max_in_flight
        await self.redis.hset(self.keys.dlq_task(task_id), mapping=mapping)  # type: ignore[arg-type]
        await self.redis.zadd(self.keys.dlq_tasks, {task_id: now})
        await self._trim()
        run = _Run(
            kind, flt, actor, rate, locks, announce, limits, now, slow=slow, ids=ids, max_in_flight=max_in_flight
        )
        self._spawn(task_id, run)
        return await self.get(task_id)

    async def _trim(self) -> None:
        """Delete the oldest task records that ended, past the newest `keep_tasks`."""
        excess = int(await self.redis.zcard(self.keys.dlq_tasks)) - self.keep_tasks
        if excess <= 0:
            return
        oldest: list[str] = await self.redis.zrange(self.keys.dlq_tasks, 0, excess - 1)  # type: ignore[assignment]
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in oldest:
                pipe.hget(self.keys.dlq_task(task_id), "status")
            statuses = await pipe.execute()
        # A record whose hash is gone (deleted by another process's trim) leaves its id behind: removed as well.
        ended = [task_id for task_id, status in zip(oldest, statuses, strict=True) if status is None or status in ENDED]
        if not ended:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ended:
                pipe.delete(self.keys.dlq_task(task_id), self.keys.dlq_task_ids(task_id))
            pipe.zrem(self.keys.dlq_tasks, *ended)
            await pipe.execute()

    async def _lock_queues(self, task_id: str, queues: list[str]) -> list[str]:
        locks: list[str] = []
        for queue in queues:
            lock = self.keys.lock(f"dlq-bulk-replay:{queue}")
            if not await self.redis.set(lock, task_id, nx=True, px=LOCK_MS):
                holder = str(await self.redis.get(lock))
                await self._release(locks, task_id)
                raise ConflictError(f"a bulk replay of queue {queue!r} is already running (task {holder})")
            locks.append(lock)
        return locks

    def _spawn(self, task_id: str, run: _Run) -> None:
        runner = asyncio.create_task(self._run(task_id, run))
        self._running[task_id] = runner
        runner.add_done_callback(lambda _t: self._running.pop(task_id, None))

    async def resume(self, task_id: str, actor: str) -> TaskState:
        """Go on with a paused replay task in this process, from where it stopped; raises ConflictError otherwise."""
        state = await self.get(task_id)
        if state.status != "paused":
            raise ConflictError(f"bulk task {task_id} is {state.status}; only a paused task can be resumed")
        key = self.keys.dlq_task(task_id)
        # Only one caller wins the move from paused to running.
        if not await self.store.scripts.swap_status(keys=[key], args=["paused", "resuming"]):
            raise ConflictError(f"bulk task {task_id} is being resumed or cancelled by another request")
        try:
            locks = await self._lock_queues(task_id, state.queues)
        except ConflictError:
            await self.redis.hset(key, "status", "paused")
            raise
        now = _now()
        await self.redis.hset(key, mapping={"status": "running", "updatedAt": now, "resumedBy": actor})
        await self.redis.hdel(key, "pausedAt", "pausedReason", "pausedFingerprints")
        limits = BrakeLimits(
            int(state.brake.get("brake_threshold", self.brake.threshold)),
            int(state.brake.get("brake_window", self.brake.window_seconds)),
        )
        flt = DlqFilter.from_params(state.filter)
        slow = SlowStart(int(state.slow_start.get("slow_start", FULL)))
        ids: list[str] | None = None
        if state.source == "ids":
            ids = await self.redis.lrange(self.keys.dlq_task_ids(task_id), 0, -1)  # type: ignore[assignment]
        # A resumed task starts slowly again, as a new task would: it paused because its jobs kept dying.
        await self.redis.hset(key, mapping={"currentRate": min(state.rate, slow.start_rate(state.rate))})
        run = _Run(
            "replay",
            flt,
            state.actor,
            state.rate,
            locks,
            None,
            limits,
            now,
            resumed=state,
            slow=slow,
            ids=ids,
            max_in_flight=state.max_in_flight,
        )
        self._spawn(task_id, run)
        return await self.get(task_id)

    async def get(self, task_id: str) -> TaskState:
        """One task's state; raises NotFoundError."""
        raw: dict[str, str] = await self.redis.hgetall(self.keys.dlq_task(task_id))  # type: ignore[assignment]
        if not raw:
            raise NotFoundError(f"no bulk task {task_id!r}")
        return TaskState.from_hash(raw, _now(), self.stale_after_ms)

    async def recent(self, limit: int = 20) -> list[TaskState]:
        """The newest tasks first."""
        ids: list[str] = await self.redis.zrevrange(self.keys.dlq_tasks, 0, min(limit, MAX_TASKS_LISTED) - 1)  # type: ignore[assignment]
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(self.keys.dlq_task(task_id))
            rows = await pipe.execute()
        now = _now()
        return [TaskState.from_hash(row, now, self.stale_after_ms) for row in rows if row]

    async def cancel(self, task_id: str) -> TaskState:
        """Ask a running task to stop after its current batch; an abandoned or paused one is cancelled at once."""
        state = await self.get(task_id)
        if state.status == "paused":
            if await self.store.scripts.swap_status(keys=[self.keys.dlq_task(task_id)], args=["paused", "cancelled"]):
                await self.redis.hset(self.keys.dlq_task(task_id), "finishedAt", _now())
                await self.redis.delete(self.keys.dlq_task_ids(task_id))
        elif state.status == "abandoned":
            await self.redis.hset(self.keys.dlq_task(task_id), mapping={"status": "cancelled", "finishedAt": _now()})
            await self.redis.delete(self.keys.dlq_task_ids(task_id))
        elif state.status == "running":
            await self.redis.hset(self.keys.dlq_task(task_id), "status", "cancelling")
        return await self.get(task_id)

    async def wait(self, task_id: str) -> TaskState:
        """Wait for a task running in this process to end; its final state."""
        runner = self._running.get(task_id)
        if runner is not None:
            await asyncio.gather(runner, return_exceptions=True)
        return await self.get(task_id)

    async def close(self) -> None:
        """Stop the tasks of this process; they read as abandoned once their heartbeat is stale."""
        for runner in list(self._running.values()):
            runner.cancel()
        if self._running:
            # Bounded: a cancel lost inside a Redis call must not hold the process's shutdown forever.
            _, left = await asyncio.wait(set(self._running.values()), timeout=5)
            if left:
                logger.warning("%d bulk task(s) did not stop within 5 s of being cancelled", len(left))

    async def _release(self, locks: list[str], task_id: str) -> None:
        for lock in locks:
            await self.store.scripts.unlock(keys=[lock], args=[task_id])

    async def _run(self, task_id: str, run: _Run) -> None:
        key = self.keys.dlq_task(task_id)
        before = run.resumed
        counts = {
            "done": before.done if before else 0,
            "succeeded": before.succeeded if before else 0,
            "failed": before.failed if before else 0,
            "skipped": before.skipped if before else 0,
        }
        errors: list[str] = list(before.errors) if before else []
        status = "completed"
        try:
            if run.kind == "replay":
                status = await self._replay_all(task_id, run, counts, errors)
            else:
                status = await self._delete_all(task_id, run, counts, errors)
        except asyncio.CancelledError:
            # The process is stopping: keep the progress; the task reads as abandoned once its heartbeat is stale.
            with contextlib.suppress(Exception):
                await self._save(key, counts, errors, run.locks)
            raise
        except Exception as exc:
            logger.exception("bulk %s task %s failed", run.kind, task_id)
            status = "failed"
            errors.append(f"task stopped: {exc}")
        await self._save(key, counts, errors, run.locks)
        if status != "paused":
            await self.redis.hset(key, mapping={"status": status, "finishedAt": _now()})
            # Only a paused task goes on again; an ended one needs its list of ids no more.
            await self.redis.delete(self.keys.dlq_task_ids(task_id))
        await self._release(run.locks, task_id)
        await self._progress(task_id)
        if status == "paused":
            state = await self.get(task_id)
            await self.publish(
                "bulk.paused",
                {"task": task_id, "reason": state.paused_reason, "fingerprints": state.paused_fingerprints},
            )
        elif run.announce:
            await self.publish(
                run.announce, {"task": task_id, "status": status, "filter": run.flt.as_params(), **counts}
            )

    async def _delete_all(self, task_id: str, run: _Run, counts: dict[str, int], errors: list[str]) -> str:
        """Delete every entry of the filter, a tick's worth at a time; the task's final status."""
        key = self.keys.dlq_task(task_id)
        started, last_event = time.monotonic(), 0.0
        async for batch in self._delete_batches(run.flt, max(1, int(run.rate * TICK_SECONDS))):
            if await self.redis.hget(key, "status") == "cancelling":
                return "cancelled"
            gone = await self.store.delete_entries(batch)
            counts["done"] += len(batch)
            counts["succeeded"] += len(gone)
            counts["skipped"] += len(batch) - len(gone)
            await self.publish("dlq.deleted", {"task": task_id, "count": len(gone), "entries": batch[:100]})
            await self._save(key, counts, errors, run.locks)
            if time.monotonic() - last_event >= 0.5:
                last_event = time.monotonic()
                await self._progress(task_id)
            # Throttle: never ahead of `rate` entries per second since the start.
            ahead = counts["done"] / run.rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
        return "completed"

    async def _replay_all(self, task_id: str, run: _Run, counts: dict[str, int], errors: list[str]) -> str:
        """Replay the task's entries at its (ramping) rate, watching the brake; the task's final status."""
        key = self.keys.dlq_task(task_id)
        watch = run.slow.percent < FULL or run.max_in_flight > 0
        brake = ReplayBrake(self.redis, self.keys, run.brake, run.since_ms, watch_when_off=watch)
        ramp = RateRamp.start(run.rate, run.slow, run.brake.window_seconds, time.monotonic())
        await self.redis.hset(key, mapping={"currentRate": ramp.current, "rampSteps": "[]"})
        died_before = run.resumed.died_again if run.resumed else 0
        died_at_stage = 0
        cursor = await self.redis.hget(key, "cursor") if run.resumed else None
        items = self._replay_items(run, str(cursor) if cursor else None)
        last_event = 0.0
        try:
            while True:
                if await self.redis.hget(key, "status") == "cancelling":
                    return "cancelled"
                if await self._braked(task_id, brake, died_before):
                    return "paused"
                now = time.monotonic()
                if ramp.next_stage(now, brake.died > died_at_stage, counts["done"], _now()):
                    died_at_stage = brake.died
                    steps = json.dumps(ramp.steps)
                    await self.redis.hset(key, mapping={"currentRate": ramp.current, "rampSteps": steps})
                wait = ramp.delay(now)
                room = run.max_in_flight - len(brake.pending) if run.max_in_flight else None
                if wait > 0 or (room is not None and room <= 0):
                    await asyncio.sleep(min(wait, WAIT_SLICE_SECONDS) if wait > 0 else TICK_SECONDS)
                    await self._save(key, counts, errors, run.locks)
                    continue
                size = ramp.batch_size() if room is None else min(ramp.batch_size(), room)
                if size == 0:
                    continue
                batch, position = await self._take(items, size)
                if not batch:
                    return "completed"
                await self._replay_batch(batch, run.actor, counts, errors, brake)
                ramp.record(len(batch))
                await self._save(key, counts, errors, run.locks, position)
                if time.monotonic() - last_event >= 0.5:
                    last_event = time.monotonic()
                    await self._progress(task_id)
        finally:
            await items.aclose()

    async def _braked(self, task_id: str, brake: ReplayBrake, died_before: int) -> bool:
        """Count the replays that died again; on a trip, store the pause with its reason and fingerprints."""
        trip = await brake.check(_now())
        key = self.keys.dlq_task(task_id)
        died = died_before + brake.died
        if trip is None:
            await self.redis.hset(key, "diedAgain", died)
            return False
        logger.warning("bulk replay task %s paused: %s", task_id, trip.reason)
        await self.redis.hset(
            key,
            mapping={
                "status": "paused",
                "diedAgain": died,
                "pausedAt": _now(),
                "pausedReason": trip.reason,
                "pausedFingerprints": json.dumps(trip.fingerprints),
            },
        )
        return True

    async def _replay_items(self, run: _Run, after: str | None) -> AsyncGenerator[tuple[str, str], None]:
        """The entries a replay task goes through after the stored position, each with the position after it."""
        if run.ids is not None:
            for index in range(int(after or 0), len(run.ids)):
                yield run.ids[index], str(index + 1)
            return
        async for items in self.query.walk_ids(run.flt, WALK_PAGE, Cursor.parse(after) if after else None):
            for score, entry_id in items:
                yield entry_id, str(Cursor(score, entry_id))

    @staticmethod
    async def _take(items: AsyncIterator[tuple[str, str]], size: int) -> tuple[list[str], str | None]:
        """Up to `size` next entries and the position after the last of them."""
        batch: list[str] = []
        position: str | None = None
        while len(batch) < size:
            try:
                entry_id, position = await anext(items)
            except StopAsyncIteration:
                break
            batch.append(entry_id)
        return batch, position

    async def _delete_batches(self, flt: DlqFilter, size: int) -> AsyncIterator[list[str]]:
        # Walk again from the top until a walk finds nothing, so entries that shared a cursor's millisecond with
        # a deleted cursor entry are not left behind.
        while True:
            found = False
            async for items in self.query.walk_ids(flt, size):
                found = True
                yield [entry_id for _score, entry_id in items]
            if not found:
                return

    async def _replay_batch(
        self, batch: list[str], actor: str, counts: dict[str, int], errors: list[str], brake: ReplayBrake | None
    ) -> None:
        gate = asyncio.Semaphore(REPLAY_CONCURRENCY)
        replayed: list[str] = []

        async def one(entry_id: str) -> None:
            async with gate:
                try:
                    result = await self.replayer.replay(entry_id, actor)
                    counts["succeeded"] += 1
                    replayed.append(entry_id)
                    if brake is not None:
                        brake.watch(entry_id, result.number)
                except (ConflictError, NotFoundError) as exc:
                    counts["skipped"] += 1
                    if len(errors) < SAMPLE_SIZE:
                        errors.append(f"entry {entry_id}: {exc}")
                except CorralError as exc:
                    counts["failed"] += 1
                    if len(errors) < SAMPLE_SIZE:
                        errors.append(f"entry {entry_id}: {exc}")
                counts["done"] += 1

        await asyncio.gather(*(one(entry_id) for entry_id in batch))
        if replayed:
            await self.publish("dlq.replayed", {"count": len(replayed), "entries": replayed[:100], "bulk": True})

    async def _save(
        self, key: str, counts: dict[str, int], errors: list[str], locks: list[str], cursor: str | None = None
    ) -> None:
        mapping: dict[str, str | int] = {**counts, "errors": json.dumps(errors), "updatedAt": _now()}
        if cursor is not None:
            mapping["cursor"] = cursor
        await self.redis.hset(key, mapping=mapping)  # type: ignore[arg-type]
        for lock in locks:
            await self.redis.pexpire(lock, LOCK_MS)

    async def _progress(self, task_id: str) -> None:
        state = await self.get(task_id)
        await self.publish(
            "bulk.progress",
            {
                "task": state.id,
                "kind": state.kind,
                "status": state.status,
                "total": state.total,
                "done": state.done,
                "succeeded": state.succeeded,
                "failed": state.failed,
                "skipped": state.skipped,
            },
        )
