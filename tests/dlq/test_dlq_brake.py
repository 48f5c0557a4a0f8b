"""The brake of a bulk replay: a replay whose jobs keep dying pauses itself, keeps the rest, resumes or cancels."""

from __future__ import annotations

from typing import Any

import pytest

from corral.dlq.brake import BrakeLimits
from corral.dlq.bulk import TaskState
from corral.dlq.fingerprint import fingerprint
from corral.dlq.query import DlqFilter
from corral.dlq.ramp import SlowStart
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


async def _entry_ids(dead_jobs, count: int) -> list[str]:
    return [
        await dead_jobs.add("search.remove", {"docType": "article", "docId": f"d{i}"}, f"index d{i} locked")
        for i in range(count)
    ]


async def _replay_counts(dlq: DlqService, entry_ids: list[str]) -> list[int]:
    return [(await dlq.entry(entry_id)).replay_count for entry_id in entry_ids]


async def test_a_replay_by_ids_whose_jobs_keep_dying_pauses_within_threshold_plus_in_flight(
    start_runtime, dlq, dead_jobs
) -> None:
    # Given 30 selected entries whose jobs all die again on a real worker
    ids = await _entry_ids(dead_jobs, 30)
    await _dying_worker(start_runtime)
    # When they are replayed by ids with a brake of 5 deaths and at most 4 replayed jobs without an outcome
    started = await dlq.tasks.start_ids(ids, "owner", rate=100, brake=BrakeLimits(5, 60), max_in_flight=4)
    paused = await eventually(lambda: _status(dlq, started.id, "paused"), timeout=60)
    # Then the task paused after more than 5 but at most 5 + 4 replays, with its reason and fingerprint
    assert (started.source, started.total, started.max_in_flight) == ("ids", 30, 4)
    assert 6 <= paused.done <= 9 and paused.died_again > 5
    assert "more than the threshold of 5" in (paused.paused_reason or "")
    assert paused.paused_fingerprints[0]["fingerprint"] == fingerprint("index d1 is read-only")
    # And the ids it did not reach stay in the DLQ, never replayed, in the order given
    counts = await _replay_counts(dlq, ids)
    assert counts == [1] * paused.done + [0] * (30 - paused.done)
    assert await dlq.store.count() == 30
    # When it is resumed, it goes on after the last id it replayed and pauses again within the same bound
    resumed = await dlq.tasks.resume(started.id, "admin")
    assert resumed.status == "running"
    again = await eventually(lambda: _status(dlq, started.id, "paused"), timeout=60)
    assert paused.done + 6 <= again.done <= paused.done + 9
    assert await _replay_counts(dlq, ids) == [1] * again.done + [0] * (30 - again.done)
    # When the paused task is cancelled, it ends at once and the rest stays in the DLQ
    cancelled = await dlq.tasks.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert await _replay_counts(dlq, ids) == [1] * again.done + [0] * (30 - again.done)
    # And the task's list of ids, kept while it could go on, is gone
    assert not await dlq.store.redis.exists(dlq.store.keys.dlq_task_ids(started.id))


async def test_a_replay_by_ids_skips_unknown_and_repeated_ids(dlq, dead_jobs) -> None:
    # Given 3 entries and no worker (replayed jobs wait in their queue)
    ids = await _entry_ids(dead_jobs, 3)
    # When they are replayed by ids, with an unknown id and a repeated one, with the brake on
    started = await dlq.tasks.start_ids([*ids, "nope", ids[0]], "owner", rate=50, brake=BrakeLimits(1, 60))
    final = await dlq.tasks.wait(started.id)
    # Then each existing entry was replayed once and the unknown id counted as skipped
    assert (final.status, final.total, final.succeeded, final.skipped) == ("completed", 4, 3, 1)
    assert not await dlq.store.redis.exists(dlq.store.keys.dlq_task_ids(started.id))
    assert await _replay_counts(dlq, ids) == [1, 1, 1]


async def test_a_slow_start_replays_at_most_its_start_rate_times_the_window_before_each_step(dlq, dead_jobs) -> None:
    # Given 200 entries and no worker, so no replayed job dies again
    await _dead_removals(dead_jobs, 200)
    # When they are replayed at 100/s starting at 10% (10/s), doubling each 1 s window
    started = await dlq.tasks.start(
        "replay", DlqFilter(), "owner", rate=100, brake=BrakeLimits(20, 1), slow_start=SlowStart(10)
    )
    final = await dlq.tasks.wait(started.id)
    # Then it started at 10/s and each stage replayed at most its rate times the window, however slow the machine
    assert started.current_rate == 10
    assert started.slow_start == {"slow_start": 10, "start_rate": 10, "ramp_window": 1}
    assert final.status == "completed" and final.succeeded == 200
    rates = [step["rate"] for step in final.ramp_steps]
    assert rates == [20, 40, 80, 100] and final.current_rate == 100
    assert final.ramp_steps[0]["done"] <= 10
    done = [step["done"] for step in final.ramp_steps]
    for before, after, rate in zip(done, done[1:], rates, strict=False):
        assert after - before <= rate * 1
