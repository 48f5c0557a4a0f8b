"""Replaying DLQ entries: one job per replay under concurrency, the limit of five, edited payloads, history."""

from __future__ import annotations

import asyncio

import pytest

from corral.dlq.query import DlqFilter
from corral.errors import ConflictError, PayloadValidationError, ReplayLimitError
from dlq.dlq_peers import email


async def test_concurrent_replays_of_one_entry_make_exactly_one_job(dlq, dead_jobs, engine) -> None:
    # Given one dead email job
    entry_id = await dead_jobs.add("email.send", email("race@x.org"), "refused")
    # When 25 tasks replay it at the same moment
    results = await asyncio.gather(*(dlq.replay(entry_id, "owner") for _ in range(25)), return_exceptions=True)
    # Then exactly one succeeded, the others were refused as conflicts, and the queue holds one job
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, ConflictError)]
    assert len(made) == 1 and len(refused) == 24
    counts = await engine.counts("email")
    assert counts["waiting"] == 1
    jobs = await engine.list_jobs("email", "waiting", 0, 10)
    assert [job.id for job in jobs] == [made[0].job_id] == [f"dlq-{entry_id}-r1"]
    entry = await dlq.entry(entry_id)
    assert entry.replay_count == 1 and entry.status == "pending"


async def test_the_sixth_replay_is_refused_with_the_reason(dlq, dead_jobs, engine) -> None:
    # Given an entry replayed five times
    entry_id = await dead_jobs.add("email.send", email("limit@x.org"), "refused")
    for number in range(1, 6):
        result = await dlq.replay(entry_id, "owner")
        assert result.number == number
        await dead_jobs.finish(entry_id, "died")
    # When it is replayed a sixth time
    with pytest.raises(ReplayLimitError) as caught:
        await dlq.replay(entry_id, "owner")
    # Then the refusal says why, and exactly five jobs exist
    assert "at most 5 times" in str(caught.value)
    assert (await engine.counts("email"))["waiting"] == 5
    entry = await dlq.entry(entry_id)
    assert [r["jobId"] for r in entry.replays] == [f"dlq-{entry_id}-r{n}" for n in range(1, 6)]
    assert [r["by"] for r in entry.replays] == ["owner"] * 5
    limit = await dlq.query.page(DlqFilter(status="limit"))
    assert [item.id for item in limit.items] == [entry_id]
    assert (await dlq.analytics.summary()).by_status["limit_reached"] == 1


async def test_an_invalid_edited_payload_is_refused_naming_the_fields(dlq, dead_jobs, engine) -> None:
    # Given a dead email job
    entry_id = await dead_jobs.add("email.send", email("edit@x.org"), "refused")
    # When it is replayed with an edit that breaks the contract
    with pytest.raises(PayloadValidationError) as caught:
        await dlq.replay(entry_id, "owner", {"to": ["not-an-address"], "subject": "", "templateId": "digest"})
    # Then the fields are named and nothing was enqueued or recorded
    assert {e.field for e in caught.value.errors} >= {"to.0", "subject"}
    assert (await engine.counts("email"))["waiting"] == 0
    assert (await dlq.entry(entry_id)).replay_count == 0


async def test_a_valid_edit_is_enqueued_and_its_diff_recorded(dlq, dead_jobs, engine) -> None:
    # Given a dead email job with a wrong address
    entry_id = await dead_jobs.add("email.send", email("typo@exmaple.org"), "unknown domain")
    # When it is replayed with the address fixed
    edited = {**email("typo@example.org")}
    result = await dlq.replay(entry_id, "owner", edited)
    # Then the new job carries the edit, and the diff is in the result and the history
    job = await engine.get_job("email", result.job_id)
    assert job is not None and job.data["to"] == ["typo@example.org"]
    assert result.diff == {"to": {"from": ["typo@exmaple.org"], "to": ["typo@example.org"]}}
    history = (await dlq.entry(entry_id)).replays
    assert history[0]["edited"] is True and history[0]["diff"] == result.diff


async def test_a_payload_that_no_longer_fits_the_contract_is_refused(dlq, dead_jobs) -> None:
    # Given an entry whose stored payload misses a required field (the contract changed since)
    entry_id = await dead_jobs.add("email.otp", {"userId": "u1", "purpose": "login"}, "refused")
    # When it is replayed unchanged
    with pytest.raises(PayloadValidationError) as caught:
        await dlq.replay(entry_id, "owner")
    # Then the missing field is named
    assert [e.field for e in caught.value.errors] == ["to"]


async def test_replay_outcomes_update_history_and_status(dlq, dead_jobs) -> None:
    # Given an entry replayed twice, the first replay's job dying before the second replay
    entry_id = await dead_jobs.add("email.send", email("o@x.org"), "refused")
    await dlq.replay(entry_id, "owner")
    assert await dlq.store.record_outcome(entry_id, 1, "died", {"status": "died", "at": 10})
    await dlq.replay(entry_id, "owner")
    # When the second completed, a stale report of it dying arrives, and the first one's job (retried from its
    # queue) completes late
    assert await dlq.store.record_outcome(entry_id, 2, "succeeded", {"status": "completed", "at": 20})
    assert not await dlq.store.record_outcome(entry_id, 2, "died", {"status": "died", "at": 20})
    assert await dlq.store.record_outcome(entry_id, 1, "succeeded", {"status": "completed", "at": 30})
    # Then the history holds the latest outcome of each replay and the status follows the latest replay only
    entry = await dlq.entry(entry_id)
    assert [r["outcome"]["status"] for r in entry.replays] == ["completed", "completed"]
    assert [r["outcome"]["runs"] for r in entry.replays] == [2, 1]
    assert entry.status == "succeeded"
    summary = await dlq.analytics.summary()
    assert summary.by_status["succeeded"] == 1 and summary.replay_success_rate == 1.0


async def test_an_entry_has_at_most_one_replay_in_flight(dlq, dead_jobs, engine) -> None:
    # Given an entry replayed once, its job still waiting
    entry_id = await dead_jobs.add("email.send", email("flight@x.org"), "refused")
    first = await dlq.replay(entry_id, "owner")
    # When ten more replays are asked at once, after the first was accepted
    results = await asyncio.gather(*(dlq.replay(entry_id, "owner") for _ in range(10)), return_exceptions=True)
    # Then every one is refused while the first is pending, naming it, and the queue holds one job
    assert all(isinstance(r, ConflictError) for r in results), results
    assert any(f"job {first.job_id}" in str(r) or "in flight" in str(r) for r in results)
    assert (await engine.counts("email"))["waiting"] == 1
    assert (await dlq.entry(entry_id)).replay_count == 1
    # When that job is removed from its queue (it will never finish), a replay is accepted again
    await engine.remove_job("email", first.job_id)
    second = await dlq.replay(entry_id, "owner")
    assert second.number == 2
    history = (await dlq.entry(entry_id)).replays
    assert history[0]["outcome"]["status"] == "removed"
    # And a replay whose job completed unseen by any observer settles as succeeded before the next
    await dlq.store.redis.zadd(dlq.store.keys.queue("email", "completed"), {second.job_id: 1})
    await dlq.store.redis.lrem(dlq.store.keys.queue("email", "wait"), 0, second.job_id)
    third = await dlq.replay(entry_id, "owner")
    assert third.number == 3
    assert (await dlq.entry(entry_id)).replays[1]["outcome"]["status"] == "completed"
