"""Schedules on a real Valkey: create (idempotent by id), validation, edit, pause/resume, remove, run now, and
schedules that really make jobs for a running worker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from corral.engine import Engine, Schedulers, next_cron_run
from corral.errors import ConflictError, InvalidRequestError, NotFoundError
from corral.handlers import HandlerSet, JobContext
from corral.keys import Keys
from corral.producer import Producer
from corral.schedules import ScheduleDraft, ScheduleService

from support import Echo, eventually, make_registry


@pytest.fixture
async def schedules(engine: Engine, redis_client, keys: Keys) -> AsyncIterator[ScheduleService]:
    registry = make_registry()
    yield ScheduleService(engine, registry, Producer(engine, registry), redis_client, keys)


async def test_a_schedule_is_listed_with_its_next_run_and_creating_it_again_is_idempotent(schedules) -> None:
    # Given an every-minute schedule of test.echo
    before = int(time.time() * 1000)
    made, created = await schedules.create(ScheduleDraft("tick", "test.echo", {"value": 1}, every_ms=60_000))
    # Then it is active on the job type's queue, with a next run
    assert created and made.queue == "work" and made.status == "active"
    assert made.next_run is not None and before <= made.next_run <= before + 61_000
    [listed] = await schedules.overview()
    assert (listed.id, listed.every_ms) == ("tick", 60_000)
    assert listed.payload == {"value": 1, "behaviour": "ok", "sleep_seconds": 0.0}
    # When the same request is made again, nothing changes
    again, created_again = await schedules.create(ScheduleDraft("tick", "test.echo", {"value": 1}, every_ms=60_000))
    assert not created_again and again.next_run == made.next_run
    assert len(await schedules.overview("work")) == 1
    # And one with another rule under the same id is refused
    with pytest.raises(ConflictError, match="edit it instead"):
        await schedules.create(ScheduleDraft("tick", "test.echo", {"value": 1}, every_ms=120_000))


async def test_a_cron_schedule_runs_next_when_its_pattern_says_in_its_time_zone(schedules) -> None:
    before = int(time.time() * 1000)
    made, _ = await schedules.create(
        ScheduleDraft("weekly", "test.echo", {"value": 2}, cron="30 9 * * 1", tz="Europe/Paris")
    )
    after = int(time.time() * 1000)
    assert made.cron == "30 9 * * 1" and made.tz == "Europe/Paris" and made.every_ms is None
    # (the pattern's next time as of the call, whichever side of a matching minute the call fell)
    assert made.next_run in {next_cron_run("30 9 * * 1", "Europe/Paris", at) for at in (before, after)}


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (ScheduleDraft("a", "test.echo", {"value": 1}), "cron"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, every_ms=1_000, cron="* * * * *"), "every_ms"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, every_ms=10), "every_ms"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, cron="61 * * * *"), "cron"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, cron="not a pattern"), "cron"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, cron="0 0 30 2 *"), "cron"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, cron="* * * * *", tz="Mars/Olympus"), "tz"),
        (ScheduleDraft("a", "test.echo", {"value": 1}, every_ms=5_000, tz="UTC"), "tz"),
        (ScheduleDraft("a", "test.echo", {"value": -1}, every_ms=5_000), "payload.value"),
        (ScheduleDraft("a", "test.echo", {"value": 1, "extra": 1}, every_ms=5_000), "payload.extra"),
        (ScheduleDraft("a", "no.such", {}, every_ms=5_000), "name"),
        (ScheduleDraft("has space", "test.echo", {"value": 1}, every_ms=5_000), "id"),
        (ScheduleDraft("", "test.echo", {"value": 1}, every_ms=5_000), "id"),
    ],
)
async def test_a_bad_schedule_is_refused_naming_the_field_and_nothing_is_made(schedules, draft, field) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        await schedules.create(draft)
    assert [error.field for error in refused.value.errors] == [field]
    assert await schedules.overview() == []


async def test_pause_keeps_the_schedule_without_its_bullmq_scheduler_and_resume_brings_it_back(
    schedules, engine: Engine
) -> None:
    # Given an active schedule with its next run waiting as a delayed job
    await schedules.create(ScheduleDraft("tick", "test.echo", {"value": 3}, cron="0 6 * * *"))
    assert (await engine.counts("work"))["delayed"] == 1
    # When it is paused
    paused, changed = await schedules.pause("work", "tick")
    # Then bullmq has no scheduler of that id and its next run is gone, but the schedule is listed as paused
    assert changed and paused.status == "paused" and paused.next_run is None and paused.paused_at
    assert await Schedulers(engine).get("work", "tick") is None
    assert (await engine.counts("work"))["delayed"] == 0
    assert [s.status for s in await schedules.overview()] == ["paused"]
    # And pausing again changes nothing
    assert (await schedules.pause("work", "tick"))[1] is False
    # When it is edited while paused, it stays paused with the change kept
    edited, what = await schedules.edit("work", "tick", {"cron": "0 7 * * *", "payload": {"value": 4}})
    assert sorted(what) == ["cron", "payload"] and edited.status == "paused"
    assert (edited.cron, edited.every_ms, edited.payload["value"]) == ("0 7 * * *", None, 4)
    # When it is resumed, bullmq has it again with the edited rule and a next run
    before = int(time.time() * 1000)
    resumed, was_paused = await schedules.resume("work", "tick")
    after = int(time.time() * 1000)
    assert was_paused and resumed.status == "active" and resumed.cron == "0 7 * * *"
    assert resumed.next_run in {next_cron_run("0 7 * * *", None, at) for at in (before, after)}
    assert (await engine.counts("work"))["delayed"] == 1
    # And when it is removed, nothing of it is left
    await schedules.remove("work", "tick")
    assert await schedules.overview() == [] and (await engine.counts("work"))["delayed"] == 0
    with pytest.raises(NotFoundError):
        await schedules.remove("work", "tick")
    with pytest.raises(NotFoundError):
        await schedules.pause("work", "tick")


async def test_an_edit_of_an_active_schedule_replaces_its_next_run_and_bad_edits_change_nothing(
    schedules, engine: Engine
) -> None:
    # Given an hourly schedule (an every-N schedule's first run is due at once)
    await schedules.create(ScheduleDraft("tick", "test.echo", {"value": 5}, every_ms=3_600_000))
    assert (await engine.counts("work"))["waiting"] == 1
    # When its interval is edited, bullmq's scheduler takes the new one
    edited, changed = await schedules.edit("work", "tick", {"every_ms": 7_200_000})
    assert changed == ["every_ms"] and edited.every_ms == 7_200_000 and edited.status == "active"
    assert (await Schedulers(engine).get("work", "tick")).every_ms == 7_200_000
    # Nothing to change is no change
    assert (await schedules.edit("work", "tick", {"every_ms": 7_200_000}))[1] == []
    for changes, field in (
        ({"every_ms": 5}, "every_ms"),
        ({"cron": "nope"}, "cron"),
        ({"payload": {"value": "x"}}, "payload.value"),
        ({"name": "other"}, "name"),
        ({"tz": "Europe/Paris"}, "tz"),
    ):
        with pytest.raises(InvalidRequestError) as refused:
            await schedules.edit("work", "tick", changes)
        assert refused.value.errors[0].field == field
    [kept] = await schedules.overview()
    assert (kept.every_ms, kept.payload["value"]) == (7_200_000, 5)
    with pytest.raises(NotFoundError):
        await schedules.edit("work", "missing", {"every_ms": 5_000})
    with pytest.raises(NotFoundError):
        await schedules.overview("no-such-queue")


async def test_a_running_worker_gets_a_job_every_second_and_run_now_adds_one_at_once(
    schedules, start_runtime, engine: Engine
) -> None:
    # Given a worker consuming test.echo
    handlers = HandlerSet()
    seen: list[int] = []

    @handlers.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, int]:
        seen.append(payload.value)
        return {"value": payload.value}

    await start_runtime(schedules.registry, handlers)
    # When a schedule fires every second
    await schedules.create(ScheduleDraft("every-second", "test.echo", {"value": 9}, every_ms=1_000))
    # Then the worker runs its jobs, one after the other (each taken job makes the next one)
    await eventually(lambda: _completed_at_least(engine, 2), timeout=60)
    assert set(seen) == {9}
    # And every run's job has the queue's attempts and backoff, the first and the ones the worker made after it
    runs = await engine.list_jobs("work", "completed", 0, 10)
    assert len({job.id for job in runs}) >= 2
    assert {(job.opts["attempts"], job.opts["backoff"]["delay"]) for job in runs} == {(3, 200)}
    # When it is paused, its next run is gone and bullmq holds no scheduler for it
    await schedules.pause("work", "every-second")
    assert await Schedulers(engine).get("work", "every-second") is None
    # And run now enqueues one job from its template, even while paused
    job_id = await schedules.run_now("work", "every-second")
    done = await eventually(lambda: _finished(engine, job_id), timeout=60)
    assert done.state == "completed" and done.data["value"] == 9


async def _completed_at_least(engine: Engine, count: int) -> bool:
    return (await engine.counts("work"))["completed"] >= count


async def _finished(engine: Engine, job_id: str):  # type: ignore[no-untyped-def]
    job = await engine.get_job("work", job_id)
    return job if job is not None and job.state == "completed" else None
