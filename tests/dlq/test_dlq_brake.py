"""The brake of a bulk replay: a replay whose jobs keep dying pauses itself, keeps the rest, resumes or cancels."""

from __future__ import annotations

from typing import Any

import pytest

from corral.dlq.brake import BrakeLimits
from corral.dlq.bulk import TaskState
from corral.dlq.fingerprint import fingerprint
from corral.dlq.query import DlqFilter
from corral.dlq.service import DlqService
from corral.errors import ConflictError, UnrecoverableJobError
from corral.handlers import JobContext
from corral.hooks import HookBus
from corral_reference.contracts import SearchRemove, default_registry

from support import eventually

TOTAL = 200


async def _dying_worker(start_runtime) -> None:
    """A real worker whose search.remove handler fails every job for good, so each replay dies again at once."""

    async def remove(_ctx: JobContext, payload: SearchRemove) -> dict[str, Any]:
        raise UnrecoverableJobError(f"index {payload.docId} is read-only")

    await start_runtime(default_registry(), {"search.remove": remove}, queues=["system"], hooks=HookBus())


async def _dead_removals(dead_jobs, count: int) -> None:
    for i in range(count):
        await dead_jobs.add("search.remove", {"docType": "article", "docId": f"d{i}"}, f"index d{i} locked")


async def _status(dlq: DlqService, task_id: str, wanted: str) -> TaskState | None:
    state = await dlq.tasks.get(task_id)
    return state if state.status == wanted else None


async def _never_replayed(dlq: DlqService) -> int:
    return (await dlq.tasks.preview(DlqFilter(status="never"))).count


async def test_a_replay_whose_jobs_keep_dying_pauses_itself_and_leaves_the_rest(start_runtime, dlq, dead_jobs) -> None:
    # Given 200 dead search.remove jobs and a worker on which every one of them dies again
    await _dead_removals(dead_jobs, TOTAL)
    await _dying_worker(start_runtime)
    # When they are replayed by filter at 5 jobs/s with a brake of 3 deaths in 60 s
    started = await dlq.tasks.start("replay", DlqFilter(queue="system"), "owner", rate=5, brake=BrakeLimits(3, 60))
    paused = await eventually(lambda: _status(dlq, started.id, "paused"), timeout=60)
    # Then the task paused itself after a bounded number, with its reason and the new failure's fingerprint
    assert paused.died_again > 3 and paused.paused_at is not None
    assert "died again within 60s" in (paused.paused_reason or "")
    top = paused.paused_fingerprints[0]
    assert top["fingerprint"] == fingerprint("index d1 is read-only") and top["count"] > 3
    assert 4 <= paused.done < TOTAL // 2
    # And every entry it did not replay is still in the DLQ, never replayed
    assert await dlq.store.count() == TOTAL
    assert await _never_replayed(dlq) == TOTAL - paused.succeeded
    # And a pause is not mistaken for an abandoned task once its heartbeat is old
    assert (await dlq.tasks.wait(started.id)).status == "paused"


async def test_a_paused_replay_resumes_where_it_stopped_from_another_process_and_can_be_cancelled(
    start_runtime, dlq, dead_jobs, redis_client, keys, engine
) -> None:
    # Given a replay paused by its brake
    await _dead_removals(dead_jobs, TOTAL)
    await _dying_worker(start_runtime)
    started = await dlq.tasks.start("replay", DlqFilter(queue="system"), "owner", rate=5, brake=BrakeLimits(3, 60))
    first = await eventually(lambda: _status(dlq, started.id, "paused"), timeout=60)
    # When another process (a fresh service over the same Valkey) resumes it
    other = DlqService(redis_client, keys, engine, default_registry())
    try:
        resumed = await other.tasks.resume(started.id, "admin")
        assert resumed.status == "running" and resumed.paused_reason is None
        # Then it goes on from where it stopped, and pauses again as its jobs keep dying
        again = await eventually(lambda: _status(other, started.id, "paused"), timeout=60)
        assert again.done > first.done and again.died_again > first.died_again
        assert await _never_replayed(other) == TOTAL - again.succeeded
        assert (await other.tasks.preview(DlqFilter(replays=2))).count == 0
        # When the paused task is cancelled
        cancelled = await other.tasks.cancel(started.id)
        # Then the cancel is immediate, the rest stays in the DLQ, and a cancelled task cannot be resumed
        assert cancelled.status == "cancelled" and cancelled.finished_at is not None
        assert await other.store.count() == TOTAL
        with pytest.raises(ConflictError):
            await other.tasks.resume(started.id, "admin")
    finally:
        await other.close()


async def test_a_brake_of_zero_replays_everything(start_runtime, dlq, dead_jobs) -> None:
    # Given 30 dead jobs that would all die again
    await _dead_removals(dead_jobs, 30)
    await _dying_worker(start_runtime)
    # When they are replayed with the brake off
    started = await dlq.tasks.start("replay", DlqFilter(), "owner", rate=100, brake=BrakeLimits(0, 60))
    final = await dlq.tasks.wait(started.id)
    # Then every one was replayed and the task completed
    assert (final.status, final.succeeded, final.brake) == ("completed", 30, {"brake_threshold": 0, "brake_window": 60})
