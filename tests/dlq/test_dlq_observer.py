"""Replayed jobs run by a real worker runtime: their outcome lands in the entry's history."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from corral.dlq.observer import observe_dlq
from corral.dlq.query import DlqFilter
from corral.errors import JobFailure
from corral.handlers import JobContext
from corral.hooks import HookBus
from corral.observers import worker_observers
from corral_reference.contracts import SearchRemove, default_registry

from support import eventually


async def test_worker_processes_install_the_dlq_observer() -> None:
    assert observe_dlq in worker_observers()


async def _failing_worker(start_runtime, worker_services, fail_for: str = "bad"):
    async def remove(_ctx: JobContext, payload: SearchRemove) -> dict[str, Any]:
        if payload.docId == fail_for:
            raise JobFailure("index still locked")
        return {"removed": payload.docId}

    hooks = HookBus()
    runtime = await start_runtime(default_registry(), {"search.remove": remove}, queues=["system"], hooks=hooks)
    observe_dlq(hooks, worker_services, runtime)
    return runtime


async def test_replayed_jobs_record_completion_or_death_again(start_runtime, dlq, dead_jobs, worker_services) -> None:
    # Given two dead search.remove jobs, and a worker whose handler fails only for document "bad"
    good = await dead_jobs.add("search.remove", {"docType": "article", "docId": "good"}, "index locked")
    bad = await dead_jobs.add("search.remove", {"docType": "article", "docId": "bad"}, "index locked")
    await _failing_worker(start_runtime, worker_services)
    # When both are replayed and the worker runs them
    await dlq.replay(good, "owner")
    await dlq.replay(bad, "owner")
    # Then the good one's history says completed, the bad one's says it died again, in the same entry
    done = await eventually(lambda: _outcome(dlq, good), timeout=60)
    died = await eventually(lambda: _outcome(dlq, bad), timeout=60)
    assert done["status"] == "completed"
    assert died["status"] == "died" and died["reason"] == "index still locked" and died["entryId"] == bad
    assert (await dlq.entry(good)).status == "succeeded" and (await dlq.entry(bad)).status == "died"
    assert await dlq.store.count() == 2


async def test_a_failing_job_stays_one_entry_however_it_is_replayed_or_retried(
    start_runtime, dlq, dead_jobs, worker_services, engine
) -> None:
    # Given one dead job whose replays keep dying
    entry_id = await dead_jobs.add("search.remove", {"docType": "article", "docId": "bad"}, "index locked")
    await _failing_worker(start_runtime, worker_services)
    # When it is replayed twice, each replay dying
    for number in (1, 2):
        await dlq.replay(entry_id, "owner")
        await eventually(lambda n=number: _status_after(dlq, entry_id, n, "died"), timeout=60)
    # Then the DLQ still holds that one entry, with both replays in its history and 3 replays left
    assert await dlq.store.count() == 1
    entry = await dlq.entry(entry_id)
    assert entry.replay_count == 2 and entry.status == "died"
    assert [r["outcome"]["status"] for r in entry.replays] == ["died", "died"]
    # When the second replay's failed job is retried from its queue and dies again
    await engine.retry_job("system", f"dlq-{entry_id}-r2")
    await eventually(lambda: _runs(dlq, entry_id, 2, 2), timeout=60)
    # Then that replay's outcome counts two runs, and still no entry was added; a replay by filter re-runs it once
    assert await dlq.store.count() == 1
    assert (await dlq.entry(entry_id)).replay_count == 2
    preview = await dlq.tasks.preview(DlqFilter(fingerprint=entry.fingerprint))
    assert preview.count == 1


async def test_a_job_retried_from_its_queue_that_dies_again_keeps_its_entry(
    start_runtime, dlq, worker_services, engine
) -> None:
    # Given a job that died in a real worker, with its entry
    await _failing_worker(start_runtime, worker_services)
    job_id = await engine.add("system", "search.remove", {"docType": "article", "docId": "bad"}, {"attempts": 1})
    await eventually(lambda: dlq.store.count(), timeout=60)
    (entry,) = (await dlq.query.page(DlqFilter())).items
    # When the failed job is retried from its queue page and dies again
    await engine.retry_job("system", job_id)
    again = await eventually(lambda: _died_again(dlq, entry.id), timeout=60)
    # Then the same entry says it died again; there is still one entry
    assert again["count"] == 1 and again["reason"] == "index still locked"
    assert await dlq.store.count() == 1


async def test_the_observer_sweeps_failed_jobs_a_crash_left_out_of_the_dlq(
    start_runtime, dlq, worker_services, redis_client, keys
) -> None:
    # Given a job in the system queue's failed set with no DLQ entry (its worker died between the two)
    failed_at = int(time.time() * 1000)
    await redis_client.hset(
        keys.job("system", "lost-1"),
        mapping={
            "name": "search.remove",
            "data": json.dumps({"docType": "article", "docId": "lost"}),
            "opts": json.dumps({"attempts": 1}),
            "failedReason": "worker killed",
            "stacktrace": "[]",
            "atm": 1,
            "timestamp": failed_at - 1_000,
            "finishedOn": failed_at,
        },
    )
    await redis_client.zadd(keys.queue("system", "failed"), {"lost-1": failed_at})
    assert await dlq.store.count() == 0
    # When a worker with the DLQ observer runs the queue
    runtime = await _failing_worker(start_runtime, worker_services)
    # Then its sweeper captures the job into one entry
    await eventually(dlq.store.count, timeout=60)
    (entry,) = (await dlq.query.page(DlqFilter())).items
    assert (entry.job_id, entry.failed_reason) == ("lost-1", "worker killed")
    # And closing the runtime stops the sweeper
    await runtime.close(grace_seconds=2)
    assert not [task for task in asyncio.all_tasks() if task.get_name() == "corral-dlq-sweeper"]


async def _status_after(dlq, entry_id: str, count: int, status: str) -> bool:
    entry = await dlq.entry(entry_id)
    return entry.replay_count == count and entry.status == status


async def _runs(dlq, entry_id: str, number: int, runs: int) -> bool:
    outcome = (await dlq.entry(entry_id)).replays[number - 1]["outcome"] or {}
    return bool(outcome.get("runs") == runs)


async def _died_again(dlq, entry_id: str) -> dict[str, Any] | None:
    return (await dlq.entry(entry_id)).died_again


async def _outcome(dlq, entry_id: str) -> dict[str, Any] | None:
    replays = (await dlq.entry(entry_id)).replays
    return replays[0]["outcome"] if replays else None
