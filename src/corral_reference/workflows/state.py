"""A workflow run's state in Redis: the run's status and every step's status, result, error and timings.

One hash per run (`Keys.workflow_run`): plain fields for the run, one `step:<id>` JSON field per step. The
coordinating `workflow.run` job is the only writer once it has claimed the run.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from corral.keys import Keys

RUN_RETENTION_SECONDS = 7 * 86_400
STEP_FIELD = "step:"


class RunStatus(enum.StrEnum):
    """Where a run is: submitted, coordinating its steps, or finished."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


TERMINAL_RUN_STATES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})


class StepStatus(enum.StrEnum):
    """Where a step is: not yet enqueued, handed to its queue (waiting or running), or finished."""

    PENDING = "pending"
    QUEUED = "queued"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


FINISHED_STEP_STATES = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED})


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


@dataclass
class StepState:
    """One step of a run: what it does, where it runs, and how it went."""

    id: str
    action: str
    depends_on: list[str]
    status: StepStatus = StepStatus.PENDING
    queue: str | None = None
    job_id: str | None = None
    result: Any = None
    error: str | None = None
    queued_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The step as a JSON document with camelCase keys."""
        return {
            "id": self.id,
            "action": self.action,
            "dependsOn": list(self.depends_on),
            "status": self.status.value,
            "queue": self.queue,
            "jobId": self.job_id,
            "result": self.result,
            "error": self.error,
            "queuedAt": self.queued_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> StepState:
        """The step stored by `as_dict`."""
        return cls(
            id=doc["id"],
            action=doc["action"],
            depends_on=list(doc.get("dependsOn") or []),
            status=StepStatus(doc.get("status", StepStatus.PENDING)),
            queue=doc.get("queue"),
            job_id=doc.get("jobId"),
            result=doc.get("result"),
            error=doc.get("error"),
            queued_at=doc.get("queuedAt"),
            started_at=doc.get("startedAt"),
            finished_at=doc.get("finishedAt"),
            attempts=int(doc.get("attempts") or 0),
        )


@dataclass
class RunState:
    """One workflow run: its status, the job coordinating it, and its steps in topological order."""

    workflow_id: str
    run_id: str
    status: RunStatus
    steps: dict[str, StepState] = field(default_factory=dict)
    job_id: str | None = None
    epoch: int = 0
    error: str | None = None
    created_at: int | None = None
    started_at: int | None = None
    finished_at: int | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has succeeded or failed."""
        return self.status in TERMINAL_RUN_STATES

    def as_dict(self) -> dict[str, Any]:
        """The run as a JSON document with camelCase keys, steps in topological order."""
        return {
            "workflowId": self.workflow_id,
            "runId": self.run_id,
            "status": self.status.value,
            "jobId": self.job_id,
            "error": self.error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "steps": [step.as_dict() for step in self.steps.values()],
        }

    def to_fields(self) -> dict[str, str]:
        """The hash fields that store this run."""
        fields = {
            "workflowId": self.workflow_id,
            "runId": self.run_id,
            "status": self.status.value,
            "epoch": str(self.epoch),
            "stepOrder": json.dumps(list(self.steps)),
        }
        optional = {
            "jobId": self.job_id,
            "error": self.error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        fields.update({name: str(value) for name, value in optional.items() if value is not None})
        for step in self.steps.values():
            fields[STEP_FIELD + step.id] = json.dumps(step.as_dict(), separators=(",", ":"))
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> RunState:
        """The run stored by `to_fields` (a freshly claimed run may have no steps yet)."""
        order: list[str] = json.loads(fields.get("stepOrder") or "[]")
        steps = {
            step_id: StepState.from_dict(json.loads(fields[STEP_FIELD + step_id]))
            for step_id in order
            if STEP_FIELD + step_id in fields
        }
        return cls(
            workflow_id=fields.get("workflowId", ""),
            run_id=fields.get("runId", ""),
            status=RunStatus(fields.get("status", RunStatus.QUEUED)),
            steps=steps,
            job_id=fields.get("jobId") or None,
            epoch=int(fields.get("epoch") or 0),
            error=fields.get("error") or None,
            created_at=_optional_int(fields.get("createdAt")),
            started_at=_optional_int(fields.get("startedAt")),
            finished_at=_optional_int(fields.get("finishedAt")),
        )


def _optional_int(value: str | None) -> int | None:
    return int(value) if value else None


# KEYS[1] the run's hash; ARGV[1] the claiming job's id.
# Returns {0, owner} when another job coordinates the run, {1, epoch} when this job resumes it,
# {2, epoch} when this job starts it afresh (first time, or again after the run failed).
_CLAIM_SCRIPT = """
local f = redis.call('HMGET', KEYS[1], 'jobId', 'status', 'epoch')
if f[1] and f[1] ~= ARGV[1] and f[2] ~= 'failed' then return {0, f[1]} end
if f[1] == ARGV[1] and f[2] ~= 'failed' then return {1, f[3] or '0'} end
local epoch = tonumber(f[3] or '0') + 1
redis.call('HSET', KEYS[1], 'jobId', ARGV[1], 'status', 'running', 'epoch', epoch)
redis.call('PERSIST', KEYS[1])
return {2, tostring(epoch)}
"""

# KEYS[1] the run's hash; ARGV the fields of a queued run. Returns the existing status when the run id is taken.
_CREATE_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'failed' then return status end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
return false
"""


@dataclass(frozen=True)
class Claim:
    """The outcome of a job claiming a run: started afresh, resumed, or owned by another job."""

    fresh: bool
    epoch: int
    owner: str | None = None


class RunStore:
    """Reads and writes workflow runs in Redis."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._claim = redis.register_script(_CLAIM_SCRIPT)
        self._create = redis.register_script(_CREATE_SCRIPT)

    async def load(self, run_id: str) -> RunState | None:
        """The run, or None when it is unknown (never submitted, or expired)."""
        fields: dict[str, str] = await self.redis.hgetall(self.keys.workflow_run(run_id))  # type: ignore[assignment]
        return RunState.from_fields(fields) if fields else None

    async def create(self, state: RunState) -> RunStatus | None:
        """Store a new queued run; returns the status of the run that already holds its id instead."""
        flat = [item for pair in state.to_fields().items() for item in pair]
        taken = await self._create(keys=[self.keys.workflow_run(state.run_id)], args=flat)
        return RunStatus(taken) if taken else None

    async def delete(self, run_id: str) -> None:
        """Forget a run."""
        await self.redis.delete(self.keys.workflow_run(run_id))

    async def claim(self, run_id: str, job_id: str) -> Claim:
        """Make `job_id` the run's coordinator, unless another job coordinates it and it has not failed."""
        kind, value = await self._claim(keys=[self.keys.workflow_run(run_id)], args=[job_id])
        if int(kind) == 0:
            return Claim(fresh=False, epoch=0, owner=str(value))
        return Claim(fresh=int(kind) == 2, epoch=int(value))

    async def save(self, state: RunState) -> None:
        """Replace the stored run with `state`; a finished run is kept for RUN_RETENTION_SECONDS."""
        key = self.keys.workflow_run(state.run_id)
        fields: dict[Any, Any] = state.to_fields()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
            if state.finished:
                pipe.expire(key, RUN_RETENTION_SECONDS)
            await pipe.execute()


async def get_run(redis: Redis, keys: Keys, run_id: str) -> RunState | None:
    """The run `run_id` with every step's status, result, error and timings; None when unknown."""
    return await RunStore(redis, keys).load(run_id)
