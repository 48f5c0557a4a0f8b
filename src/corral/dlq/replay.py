"""Replaying a DLQ entry: under a lock, within the replay limit, its payload checked against the current contract."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from corral.contracts.base import EnqueueOptions, Registry
from corral.contracts.secrets import Path, mask, restore, still_masked
from corral.dlq.entry import DeadLetterEntry
from corral.dlq.store import MAX_REPLAYS, DeadLetterStore
from corral.engine import TRACE_OPTION, Engine, job_options, with_trace
from corral.errors import (
    ConflictError,
    FieldError,
    InvalidRequestError,
    NotFoundError,
    ReplayLimitError,
    UnknownJobError,
)
from corral.producer import encode_payload
from corral.tracing import replay_trace

REPLAY_LOCK_MS = 30_000
_REPLAY_JOB_ID = re.compile(r"^dlq-(\d+)-r(\d+)$")


def replay_job_id(entry_id: str, number: int) -> str:
    """The id of the job made by replay number `number` of an entry; the same replay always makes the same job."""
    return f"dlq-{entry_id}-r{number}"


def parse_replay_job_id(job_id: str) -> tuple[str, int] | None:
    """(entry id, replay number) of a job made by a replay, or None for any other job."""
    found = _REPLAY_JOB_ID.match(job_id)
    return (found.group(1), int(found.group(2))) if found else None


def payload_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Top-level fields an edit changed, added or removed, each with its value before and after."""
    changed = {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name) or (name in before) != (name in after):
            changed[name] = {"from": before.get(name), "to": after.get(name)}
    return changed


def masked_diff(diff: dict[str, dict[str, Any]], paths: tuple[Path, ...]) -> dict[str, dict[str, Any]]:
    """A diff with the secret values on either side masked; a changed secret still shows as changed."""
    if not paths:
        return diff
    shown = {}
    for name, change in diff.items():
        shown[name] = {side: mask({name: value}, paths)[name] for side, value in change.items()}
    return shown


@dataclass(frozen=True)
class ReplayResult:
    """A replay that was made: the new job and, for an edited payload, what the edit changed."""

    entry_id: str
    queue: str
    name: str
    job_id: str
    number: int
    diff: dict[str, dict[str, Any]] = field(default_factory=dict)


class Replayer:
    """Re-adds DLQ entries to their original queues, at most once per replay number and five times per entry."""

    def __init__(self, store: DeadLetterStore, engine: Engine, registry: Registry) -> None:
        self.store = store
        self.engine = engine
        self.registry = registry

    async def replay(self, entry_id: str, actor: str, payload: dict[str, Any] | None = None) -> ReplayResult:
        """Replay one entry, optionally with an edited payload; raises NotFound, ReplayLimit, Conflict or 422 errors."""
        lock = self.store.keys.lock(f"dlq-replay:{entry_id}")
        holder = secrets.token_hex(8)
        if not await self.store.redis.set(lock, holder, nx=True, px=REPLAY_LOCK_MS):
            raise ConflictError(
                f"DLQ entry {entry_id} is being replayed by another request; an entry has at most one replay in flight"
            )
        try:
            return await self._replay_locked(entry_id, actor, payload)
        finally:
            await self.store.scripts.unlock(keys=[lock], args=[holder])

    async def _settle_pending(self, entry: DeadLetterEntry) -> None:
        """Refuse while the entry's latest replay is in flight; a pending replay whose job already finished or is
        gone (an outcome the observer never saw) gets its outcome recorded, so the entry can be replayed again."""
        number = entry.replay_count
        job_id = str(entry.replays[-1].get("jobId") or replay_job_id(entry.id, number))
        job = await self.engine.get_job(entry.queue, job_id)
        now = int(time.time() * 1000)
        if job is None:
            outcome = {"status": "removed", "at": now, "reason": "the replayed job was removed before it finished"}
            await self.store.record_outcome(entry.id, number, "died", outcome)
        elif job.state == "completed":
            await self.store.record_outcome(
                entry.id, number, "succeeded", {"status": "completed", "at": job.finished_on or now}
            )
        elif job.state == "failed":
            outcome = {"status": "died", "at": job.finished_on or now, "reason": (job.failed_reason or "")[:500]}
            await self.store.record_outcome(entry.id, number, "died", outcome)
        else:
            raise ConflictError(
                f"replay {number} of DLQ entry {entry.id} (job {job_id}) is still {job.state}; "
                "an entry has at most one replay in flight"
            )

    async def _replay_locked(self, entry_id: str, actor: str, payload: dict[str, Any] | None) -> ReplayResult:
        entry = await self.store.get(entry_id)
        if entry is not None and entry.status == "pending" and entry.replay_count:
            await self._settle_pending(entry)
            entry = await self.store.get(entry_id)
        if entry is None:
            raise NotFoundError(f"no DLQ entry {entry_id!r}")
        if entry.replay_count >= MAX_REPLAYS:
            raise ReplayLimitError(
                f"DLQ entry {entry_id} was already replayed {entry.replay_count} times; "
                f"an entry can be replayed at most {MAX_REPLAYS} times"
            )
        try:
            job_type = self.registry.job(entry.name)
        except UnknownJobError:
            raise InvalidRequestError(
                f"job type {entry.name!r} is no longer registered", [FieldError("name", "no such job type")]
            ) from None
        if job_type.queue != entry.queue:
            raise ConflictError(f"job type {entry.name!r} now runs on queue {job_type.queue!r}, not {entry.queue!r}")
        secrets_of = self.registry.secret_paths(entry.name)
        if payload is not None and secrets_of:
            # An edit made from a masked view sends the mask back for secrets it left alone: they keep their values.
            payload = restore(payload, entry.data, secrets_of)
            unknown = still_masked(payload, secrets_of)
            if unknown:
                raise InvalidRequestError(
                    "a secret field holds the mask but had no value to keep",
                    [FieldError(f"payload.{path}", "give the real value or leave the field out") for path in unknown],
                )
        data = encode_payload(job_type, entry.data if payload is None else payload)
        diff = masked_diff(payload_diff(entry.data, data), secrets_of) if payload is not None else {}
        number = entry.replay_count + 1
        job_id = replay_job_id(entry_id, number)
        opts = {**job_options(entry.name, self.registry.queue(entry.queue), EnqueueOptions()), "jobId": job_id}
        opts = with_trace(opts, *replay_trace(entry.opts, TRACE_OPTION))  # a new trace, linked to the original's
        # The job id is fixed by the replay number: adding twice (after a crash here) still makes one job.
        await self.engine.add(entry.queue, entry.name, data, opts)
        record: dict[str, Any] = {"by": actor, "at": int(time.time() * 1000), "jobId": job_id, "edited": bool(diff)}
        if diff:
            record["diff"] = diff
        code = await self.store.record_replay(entry_id, entry.replay_count, record)
        if code == -1:
            raise NotFoundError(f"DLQ entry {entry_id} was deleted during its replay")
        if code == -3:
            raise ReplayLimitError(f"DLQ entry {entry_id} reached its limit of {MAX_REPLAYS} replays")
        if code == -4:
            raise ConflictError(f"DLQ entry {entry_id} has a replay in flight; an entry has at most one")
        if code < 0:
            raise ConflictError(f"DLQ entry {entry_id} was replayed concurrently; its history is unchanged")
        return ReplayResult(entry_id, entry.queue, entry.name, job_id, number, diff)
