"""Job schedulers made by Node BullMQ (npm `bullmq`) on a Corral queue are Corral schedules: listed with their next
run, paused, resumed and run like Corral's own; Node BullMQ sees what Corral changed."""

from __future__ import annotations

import asyncio
import json
import time

from corral.engine import Engine
from corral.keys import Keys
from corral.producer import Producer
from corral.schedules import ScheduleDraft, ScheduleService
from interop.test_node_bullmq import node, node_bullmq

from support import make_registry

__all__ = ["node_bullmq"]


async def test_a_node_bullmq_scheduler_on_a_corral_queue_is_listed_paused_resumed_and_run_by_corral(
    node_bullmq, valkey_url, keys: Keys, engine: Engine, redis_client
) -> None:
    registry = make_registry()
    schedules = ScheduleService(engine, registry, Producer(engine, registry), redis_client, keys)
    # Given a cron scheduler and an every-N scheduler made by Node BullMQ on Corral's queue `work`
    made = [
        {
            "id": "node-cron",
            "repeat": {"pattern": "15 4 * * *", "tz": "Europe/Berlin"},
            "name": "test.echo",
            "data": {"value": 11},
        },
        {"id": "node-every", "repeat": {"every": 3_600_000}, "name": "test.echo", "data": {"value": 12}},
    ]
    [line] = await asyncio.to_thread(
        node, node_bullmq, "scheduler.mjs", valkey_url, keys.bullmq_prefix, "work", json.dumps(made)
    )
    node_view = {item["key"]: item["next"] for item in json.loads(line)}
    # And one made by Corral on the same queue
    await schedules.create(ScheduleDraft("corral-made", "test.echo", {"value": 13}, cron="0 5 * * *"))
    # Then Corral lists all three, with the rule, the job and the next run Node BullMQ sees
    listed = {schedule.id: schedule for schedule in await schedules.overview("work")}
    assert set(listed) == {"node-cron", "node-every", "corral-made"}
    cron = listed["node-cron"]
    assert (cron.name, cron.cron, cron.tz, cron.every_ms, cron.status) == (
        "test.echo",
        "15 4 * * *",
        "Europe/Berlin",
        None,
        "active",
    )
    assert cron.payload == {"value": 11} and cron.registered
    assert cron.next_run == node_view["node-cron"] and cron.next_run > time.time() * 1000
    assert listed["node-every"].every_ms == 3_600_000 and listed["node-every"].next_run == node_view["node-every"]
    # When Corral pauses the Node scheduler, Node BullMQ no longer has it; Corral keeps it as paused
    await schedules.pause("work", "node-cron")
    [line] = await asyncio.to_thread(node, node_bullmq, "scheduler.mjs", valkey_url, keys.bullmq_prefix, "work", "[]")
    assert "node-cron" not in {item["key"] for item in json.loads(line)}
    assert (await schedules.get("work", "node-cron")).status == "paused"
    # When Corral resumes it, Node BullMQ has it again with the same rule and the same next run
    resumed, _ = await schedules.resume("work", "node-cron")
    [line] = await asyncio.to_thread(node, node_bullmq, "scheduler.mjs", valkey_url, keys.bullmq_prefix, "work", "[]")
    assert {item["key"]: item["next"] for item in json.loads(line)}["node-cron"] == resumed.next_run
    assert (resumed.cron, resumed.tz, resumed.payload) == ("15 4 * * *", "Europe/Berlin", {"value": 11})
    # And run now enqueues one job from the Node scheduler's template, checked by Corral's contract
    job_id = await schedules.run_now("work", "node-cron")
    job = await engine.get_job("work", job_id)
    assert job is not None and job.name == "test.echo" and job.data["value"] == 11
