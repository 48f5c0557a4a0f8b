"""Replayed jobs run by a real worker runtime: their outcome lands in the entry's history."""

from __future__ import annotations

from typing import Any

from corral.dlq.observer import observe_dlq
from corral.errors import JobFailure
from corral.handlers import JobContext
from corral.hooks import HookBus
from corral.observers import worker_observers
from corral_reference.contracts import SearchRemove, default_registry

from support import eventually


async def test_worker_processes_install_the_dlq_observer() -> None:
    assert observe_dlq in worker_observers()


async def test_replayed_jobs_record_completion_or_death_again(start_runtime, dlq, dead_jobs, worker_services) -> None:
    # Given two dead search.remove jobs, and a worker whose handler fails only for document "bad"
    good = await dead_jobs.add("search.remove", {"docType": "article", "docId": "good"}, "index locked")
    bad = await dead_jobs.add("search.remove", {"docType": "article", "docId": "bad"}, "index locked")

    async def remove(_ctx: JobContext, payload: SearchRemove) -> dict[str, Any]:
        if payload.docId == "bad":
            raise JobFailure("index still locked")
        return {"removed": payload.docId}

    hooks = HookBus()
    runtime = await start_runtime(default_registry(), {"search.remove": remove}, queues=["system"], hooks=hooks)
    observe_dlq(hooks, worker_services, runtime)
    # When both are replayed and the worker runs them
    await dlq.replay(good, "owner")
    await dlq.replay(bad, "owner")
    # Then the good one's history says completed, the bad one's says it died again, naming its new entry
    done = await eventually(lambda: _outcome(dlq, good), timeout=60)
    died = await eventually(lambda: _outcome(dlq, bad), timeout=60)
    assert done["status"] == "completed"
    assert died["status"] == "died" and died["reason"] == "index still locked" and died["entryId"]
    assert (await dlq.entry(good)).status == "succeeded" and (await dlq.entry(bad)).status == "died"
    again = await dlq.entry(died["entryId"])
    assert again.job_id == f"dlq-{bad}-r1" and again.data == {"docType": "article", "docId": "bad"}


async def _outcome(dlq, entry_id: str) -> dict[str, Any] | None:
    replays = (await dlq.entry(entry_id)).replays
    return replays[0]["outcome"] if replays else None
