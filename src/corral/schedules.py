"""Schedules: repeatable and cron jobs of the application's queues (bullmq's job schedulers), for operators.

A schedule is named by its queue and its id. An active schedule *is* a bullmq job scheduler, so one that a Node
BullMQ producer made on the same queue is listed, paused and run like Corral's own. bullmq has no paused state for a
scheduler: pausing keeps the schedule's rule and job template in Corral's own hash (`Keys.schedules_paused`) and
removes the bullmq scheduler with its pending next run; resuming creates the scheduler again from what was kept
(its iteration count starts again). Every change of one schedule runs under a Redis lock of that schedule.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from redis.asyncio import Redis

from corral.contracts.base import EnqueueOptions, Registry
from corral.engine import Engine, SchedulerRecord, Schedulers, job_options, next_cron_run
from corral.errors import (
    ConflictError,
    FieldError,
    InvalidRequestError,
    NotFoundError,
    PayloadValidationError,
    UnknownJobError,
)
from corral.keys import Keys
from corral.producer import Producer, encode_payload

SCHEDULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MIN_EVERY_MS = 1_000
MAX_EVERY_MS = 366 * 86_400_000
MAX_CRON_LENGTH = 120
EDITABLE = frozenset({"payload", "every_ms", "cron", "tz"})
LOCK_SECONDS = 30

Status = Literal["active", "paused"]


@dataclass(frozen=True)
class Schedule:
    """One schedule: its rule (every N ms, or a cron pattern in a time zone), its job and when it runs next."""

    queue: str
    id: str
    name: str
    payload: Any
    every_ms: int | None
    cron: str | None
    tz: str | None
    status: Status
    next_run: int | None
    iterations: int | None = None
    paused_at: int | None = None
    registered: bool = True

    def same_rule_and_job(self, other: Schedule) -> bool:
        """Whether both run the same job with the same payload on the same rule (status and times aside)."""
        mine = (self.name, self.payload, self.every_ms, self.cron, self.tz)
        return mine == (other.name, other.payload, other.every_ms, other.cron, other.tz)


@dataclass(frozen=True)
class ScheduleDraft:
    """What an operator asks for: an id, a job type and its payload, and either `every_ms` or `cron` (with `tz`)."""

    id: str
    name: str
    payload: Any
    every_ms: int | None = None
    cron: str | None = None
    tz: str | None = None


def _invalid(field: str, reason: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}: {reason}", [FieldError(field, reason)])


def check_rule(every_ms: int | None, cron: str | None, tz: str | None) -> None:
    """Refuse a rule that is not exactly one of `every_ms` (1 s to 366 days) or a cron pattern BullMQ reads."""
    if every_ms is not None and cron is not None:
        raise _invalid("every_ms", "give either every_ms or cron, not both")
    if every_ms is None and cron is None:
        raise _invalid("cron", "give either every_ms (milliseconds) or cron (a cron pattern)")
    if every_ms is not None:
        if isinstance(every_ms, bool) or not isinstance(every_ms, int) or not MIN_EVERY_MS <= every_ms <= MAX_EVERY_MS:
            raise _invalid("every_ms", f"whole milliseconds between {MIN_EVERY_MS} and {MAX_EVERY_MS}")
        if tz is not None:
            raise _invalid("tz", "a time zone applies to a cron pattern only")
        return
    assert cron is not None
    if not cron.strip() or len(cron) > MAX_CRON_LENGTH:
        raise _invalid("cron", f"a cron pattern of 1 to {MAX_CRON_LENGTH} characters")
    next_cron_run(cron, tz, int(time.time() * 1000))


def _paused_document(record: SchedulerRecord, paused_at: int) -> str:
    return json.dumps(
        {
            "name": record.job_name,
            "every_ms": record.every_ms,
            "cron": record.pattern,
            "tz": record.tz,
            "data": record.data,
            "opts": record.opts,
            "bounds": record.bounds,
            "paused_at": paused_at,
        },
        separators=(",", ":"),
    )


def _paused_record(queue: str, schedule_id: str, document: str | bytes) -> tuple[SchedulerRecord, int]:
    kept = json.loads(document)
    record = SchedulerRecord(
        queue=queue,
        id=schedule_id,
        job_name=str(kept["name"]),
        every_ms=kept.get("every_ms"),
        pattern=kept.get("cron"),
        tz=kept.get("tz"),
        next_run=None,
        data=kept.get("data", {}),
        opts=dict(kept.get("opts") or {}),
        bounds={str(key): int(value) for key, value in (kept.get("bounds") or {}).items()},
    )
    return record, int(kept.get("paused_at") or 0)


class ScheduleService:
    """What an operator can see and do with the schedules of the application's work queues."""

    def __init__(self, engine: Engine, registry: Registry, producer: Producer, redis: Redis, keys: Keys) -> None:
        self.registry = registry
        self.producer = producer
        self.redis = redis
        self.keys = keys
        self.schedulers = Schedulers(engine)

    # ---- reading ------------------------------------------------------------------------------------------------

    def _check_queue(self, queue: str) -> None:
        if queue not in self.registry.work_queues:
            raise NotFoundError(f"no queue {queue!r}; queues: {', '.join(self.registry.work_queues)}")

    def _view(self, record: SchedulerRecord, status: Status, paused_at: int | None = None) -> Schedule:
        return Schedule(
            queue=record.queue,
            id=record.id,
            name=record.job_name,
            payload=record.data,
            every_ms=record.every_ms,
            cron=record.pattern,
            tz=record.tz,
            status=status,
            next_run=record.next_run if status == "active" else None,
            iterations=record.iterations if status == "active" else None,
            paused_at=paused_at,
            registered=record.job_name in self.registry.jobs,
        )

    async def _paused(self, queue: str, schedule_id: str) -> tuple[SchedulerRecord, int] | None:
        document = await self.redis.hget(self.keys.schedules_paused(queue), schedule_id)
        return _paused_record(queue, schedule_id, document) if document else None

    async def overview(self, queue: str | None = None) -> list[Schedule]:
        """Every schedule (of one queue, if given): active ones by their next run, then paused ones."""
        if queue is not None:
            self._check_queue(queue)
        found: list[Schedule] = []
        for name in [queue] if queue else self.registry.work_queues:
            active = await self.schedulers.of_queue(name)
            found += [self._view(record, "active") for record in active]
            seen = {record.id for record in active}
            kept = await self.redis.hgetall(self.keys.schedules_paused(name))
            for raw_id, document in sorted(kept.items()):
                schedule_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                if schedule_id not in seen:  # active wins: a pause cut short left both
                    record, paused_at = _paused_record(name, schedule_id, document)
                    found.append(self._view(record, "paused", paused_at))
        return sorted(found, key=lambda s: (s.status != "active", s.next_run or 0, s.queue, s.id))

    async def get(self, queue: str, schedule_id: str) -> Schedule:
        """One schedule; raises NotFoundError."""
        self._check_queue(queue)
        record = await self.schedulers.get(queue, schedule_id)
        if record is not None:
            return self._view(record, "active")
        paused = await self._paused(queue, schedule_id)
        if paused is None:
            raise NotFoundError(f"no schedule {schedule_id!r} on queue {queue!r}")
        return self._view(paused[0], "paused", paused[1])

    # ---- changing -----------------------------------------------------------------------------------------------

    def _lock(self, queue: str, schedule_id: str) -> Any:
        return self.redis.lock(
            self.keys.lock(f"schedule:{queue}:{schedule_id}"), timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS
        )

    def _payload(self, name: str, payload: Any) -> dict[str, Any]:
        try:
            return encode_payload(self.registry.job(name), payload)
        except PayloadValidationError as exc:
            errors = [
                FieldError("payload" if e.field == "payload" else f"payload.{e.field}", e.reason) for e in exc.errors
            ]
            raise InvalidRequestError(f"invalid payload for {name}: " + "; ".join(map(str, errors)), errors) from None

    def _record(self, queue: str, schedule_id: str, name: str, data: Any, rule: Mapping[str, Any]) -> SchedulerRecord:
        options = job_options(name, self.registry.queue(queue), EnqueueOptions())
        return SchedulerRecord(
            queue=queue,
            id=schedule_id,
            job_name=name,
            every_ms=rule.get("every_ms"),
            pattern=rule.get("cron"),
            tz=rule.get("tz"),
            next_run=None,
            data=data,
            opts=options,
        )

    async def create(self, draft: ScheduleDraft) -> tuple[Schedule, bool]:
        """Create a schedule; returns it and whether it was made now.

        Idempotent by id: the same request again returns the schedule as it is; one that differs answers
        ConflictError (edit the schedule instead).
        """
        if not isinstance(draft.id, str) or not SCHEDULE_ID.match(draft.id):
            raise _invalid("id", "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit")
        try:
            job_type = self.registry.job(draft.name)
        except UnknownJobError:
            raise _invalid("name", f"unknown job type {draft.name!r}") from None
        check_rule(draft.every_ms, draft.cron, draft.tz)
        data = self._payload(draft.name, draft.payload)
        rule = {"every_ms": draft.every_ms, "cron": draft.cron, "tz": draft.tz}
        record = self._record(job_type.queue, draft.id, draft.name, data, rule)
        async with self._lock(job_type.queue, draft.id):
            try:
                existing = await self.get(job_type.queue, draft.id)
            except NotFoundError:
                existing = None
            if existing is not None:
                if existing.same_rule_and_job(self._view(record, existing.status)):
                    return existing, False
                raise ConflictError(
                    f"schedule {draft.id!r} on queue {job_type.queue!r} exists with another rule or job; "
                    "edit it instead"
                )
            await self.schedulers.upsert(record)
            return await self.get(job_type.queue, draft.id), True

    async def edit(self, queue: str, schedule_id: str, changes: Mapping[str, Any]) -> tuple[Schedule, list[str]]:
        """Change a schedule's payload and/or rule (`every_ms`, or `cron` with `tz`); returns it and what changed.

        A paused schedule stays paused with the change kept; an active one gets its next run from the new rule.
        """
        unknown = sorted(set(changes) - EDITABLE)
        if unknown:
            raise _invalid(unknown[0], f"not editable; editable: {', '.join(sorted(EDITABLE))}")
        if changes.get("every_ms") is not None and changes.get("cron") is not None:
            raise _invalid("every_ms", "give either every_ms or cron, not both")
        self._check_queue(queue)
        async with self._lock(queue, schedule_id):
            record, status, paused_at = await self._current(queue, schedule_id)
            rule: dict[str, Any] = {"every_ms": record.every_ms, "cron": record.pattern, "tz": record.tz}
            if changes.get("every_ms") is not None:
                rule = {"every_ms": changes["every_ms"], "cron": None, "tz": None}
            elif changes.get("cron") is not None:
                rule = {"every_ms": None, "cron": changes["cron"], "tz": changes.get("tz")}
            elif "tz" in changes:
                rule["tz"] = changes["tz"]
            check_rule(rule["every_ms"], rule["cron"], rule["tz"])
            data = record.data
            if "payload" in changes:
                if record.job_name not in self.registry.jobs:
                    reason = f"job type {record.job_name!r} is not registered: its payload cannot be checked"
                    raise _invalid("payload", reason)
                data = self._payload(record.job_name, changes["payload"])
            updated = replace(record, every_ms=rule["every_ms"], pattern=rule["cron"], tz=rule["tz"], data=data)
            changed = [
                name
                for name, before, after in (
                    ("payload", record.data, updated.data),
                    ("every_ms", record.every_ms, updated.every_ms),
                    ("cron", record.pattern, updated.pattern),
                    ("tz", record.tz, updated.tz),
                )
                if before != after
            ]
            if changed:
                if status == "active":
                    await self.schedulers.upsert(updated)
                else:
                    await self.redis.hset(
                        self.keys.schedules_paused(queue), schedule_id, _paused_document(updated, paused_at or 0)
                    )
            return await self.get(queue, schedule_id), changed

    async def _current(self, queue: str, schedule_id: str) -> tuple[SchedulerRecord, Status, int | None]:
        record = await self.schedulers.get(queue, schedule_id)
        if record is not None:
            return record, "active", None
        paused = await self._paused(queue, schedule_id)
        if paused is None:
            raise NotFoundError(f"no schedule {schedule_id!r} on queue {queue!r}")
        return paused[0], "paused", paused[1]

    async def pause(self, queue: str, schedule_id: str) -> tuple[Schedule, bool]:
        """Stop a schedule from making jobs, keeping it to resume; returns it and whether it was active.

        Its pending next run is removed with the bullmq scheduler; a run already due (waiting or active) still runs.
        """
        self._check_queue(queue)
        async with self._lock(queue, schedule_id):
            record, status, _ = await self._current(queue, schedule_id)
            if status == "paused":
                return await self.get(queue, schedule_id), False
            # Kept first, removed second: a pause cut short between the two leaves the schedule active, never lost.
            document = _paused_document(record, int(time.time() * 1000))
            await self.redis.hset(self.keys.schedules_paused(queue), schedule_id, document)
            await self.schedulers.remove(queue, schedule_id)
            return await self.get(queue, schedule_id), True

    async def resume(self, queue: str, schedule_id: str) -> tuple[Schedule, bool]:
        """Create a paused schedule's bullmq scheduler again; returns it and whether it was paused."""
        self._check_queue(queue)
        async with self._lock(queue, schedule_id):
            record, status, _ = await self._current(queue, schedule_id)
            if status == "active":
                await self.redis.hdel(self.keys.schedules_paused(queue), schedule_id)
                return await self.get(queue, schedule_id), False
            if await self.schedulers.upsert(record) is None:
                raise ConflictError(f"schedule {schedule_id!r} has no run left (its limit or end date has passed)")
            await self.redis.hdel(self.keys.schedules_paused(queue), schedule_id)
            return await self.get(queue, schedule_id), True

    async def remove(self, queue: str, schedule_id: str) -> None:
        """Delete a schedule, active or paused, with its pending next run; raises NotFoundError."""
        self._check_queue(queue)
        async with self._lock(queue, schedule_id):
            removed = await self.schedulers.remove(queue, schedule_id)
            dropped = await self.redis.hdel(self.keys.schedules_paused(queue), schedule_id)
            if not removed and not dropped:
                raise NotFoundError(f"no schedule {schedule_id!r} on queue {queue!r}")

    async def run_now(self, queue: str, schedule_id: str) -> str:
        """Enqueue one job now from the schedule's job type and payload (checked by the contract); returns its id.

        The schedule's own next run is not moved.
        """
        schedule = await self.get(queue, schedule_id)
        if not schedule.registered:
            raise _invalid("name", f"job type {schedule.name!r} is not registered: Corral cannot check its payload")
        job_type = self.registry.job(schedule.name)
        if job_type.queue != queue:
            raise ConflictError(f"job type {schedule.name!r} runs on queue {job_type.queue!r}, not {queue!r}")
        data = self._payload(schedule.name, schedule.payload)
        return await self.producer.enqueue(schedule.name, data)
