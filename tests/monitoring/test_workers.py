"""The worker registry with real worker processes: heartbeats, counts, clean stops, and lost (killed) workers."""

from __future__ import annotations

import os
import signal

from corral.realtime.bus import EventBus
from monitoring.monitoring_peers import spawn_worker, two_queue_registry

from support import eventually


async def test_a_worker_reports_its_queues_counts_and_active_jobs(
    start_worker, monitoring_for, make_producer, redis_client, keys
) -> None:
    # Given a monitored worker on both queues
    registry = two_queue_registry(attempts=1)
    worker = await start_worker(registry)
    monitoring = monitoring_for(registry)
    views = await eventually(monitoring.workers.views)
    # Then it is listed live with its host, pid, queues, concurrency and start time, and announced online
    assert len(views) == 1
    state = views[0].state
    assert views[0].status == "live"
    assert (state.host, state.pid, state.queues, state.concurrency) == (
        os.uname().nodename,
        os.getpid(),
        ["work", "other"],
        15,
    )
    assert state.started_at <= state.last_heartbeat
    online = [e for e in await EventBus(redis_client, keys).latest() if e.type == "worker.online"]
    assert [e.data["worker"] for e in online] == [state.id]
    # When it completes two jobs, fails one and works on a long one
    producer = make_producer(registry)
    await producer.enqueue("test.echo", {"value": 1})
    await producer.enqueue("test.other", {"value": 2})
    await producer.enqueue("test.echo", {"value": 3, "behaviour": "fail"})
    await producer.enqueue("test.echo", {"value": 4, "behaviour": "sleep", "sleep_seconds": 1.5})

    async def counted():
        found = (await monitoring.workers.views())[0].state
        return found if (found.processed, found.failed, found.active_jobs) == (2, 1, 1) else None

    # Then its heartbeat carries the counts
    await eventually(counted)
    # When it stops cleanly, then it leaves the registry and is announced offline
    await worker.stop()
    assert await monitoring.workers.views() == []
    offline = [e for e in await EventBus(redis_client, keys).latest() if e.type == "worker.offline"]
    assert [(e.data["worker"], e.data["reason"]) for e in offline] == [(state.id, "stopped")]


async def test_a_killed_worker_is_shown_lost_and_announced_once(valkey_url, monitoring_for, redis_client, keys) -> None:
    # Given a real worker process heartbeating every 0.2 s, lost after 1 s of silence
    registry = two_queue_registry()
    monitoring = monitoring_for(registry)
    process = spawn_worker(valkey_url, "work")
    try:
        views = await eventually(monitoring.workers.views, timeout=60)
        assert views[0].state.pid == process.pid and views[0].status == "live"
        # When it is killed without a chance to say goodbye
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    # Then within the lost delay (plus a heartbeat) it is shown lost
    async def lost():
        found = await monitoring.workers.views()
        return found if found and found[0].status == "lost" else None

    views = await eventually(lost, timeout=60)
    assert views[0].seconds_since_heartbeat > 1.0
    # And the alert evaluator announces it offline exactly once
    bus = EventBus(redis_client, keys)
    evaluator = monitoring.evaluator()
    # (the killed process may have died holding the evaluation lock: take it over)
    await redis_client.delete(keys.lock("alert-evaluator"))
    first = await evaluator.evaluate()
    await redis_client.delete(keys.lock("alert-evaluator"))
    second = await evaluator.evaluate()
    assert first is not None and first.lost_workers == [views[0].state.id]
    assert second is not None and second.lost_workers == []
    offline = [e for e in await bus.latest() if e.type == "worker.offline"]
    assert [(e.data["pid"], e.data["reason"]) for e in offline] == [(views[0].state.pid, "lost")]
