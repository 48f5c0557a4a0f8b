"""The process-wide hub on a real Valkey: one subscription, bounded client queues, backfill after reconnection."""

from __future__ import annotations

import asyncio

from corral.realtime import EventBus, EventDraft, Severity
from corral.realtime.hub import ClientStream, EventHub, StopReason
from corral.realtime.rooms import ClientFilter

from support import eventually


async def start_hub(redis_client, keys) -> tuple[EventHub, EventBus]:
    bus = EventBus(redis_client, keys)
    hub = EventHub(redis_client, keys, bus, reconnect_delay=0.05)
    hub.start()
    await hub.wait_subscribed()
    return hub, bus


async def test_one_subscription_fans_out_to_clients_by_room_and_severity(redis_client, keys) -> None:
    # Given a hub and three clients with different filters
    hub, bus = await start_hub(redis_client, keys)
    everything = ClientStream(ClientFilter(), 100)
    email = ClientStream(ClientFilter(frozenset({"queue:email"})), 100)
    errors = ClientStream(ClientFilter(min_severity=Severity.ERROR), 100)
    for client in (everything, email, errors):
        hub.attach(client)
    try:
        # When events of two queues and two severities are published
        await bus.publish(EventDraft("job.completed", queue="email"))
        await bus.publish(EventDraft("job.failed", queue="ai", severity=Severity.ERROR))
        await eventually(lambda: _ready(everything, 2))
        # Then each client holds exactly the events it asked for
        assert [e.rooms for e in await everything.take(10)] == [("global", "queue:email"), ("global", "queue:ai")]
        assert [e.rooms[-1] for e in await email.take(10)] == ["queue:email"]
        assert [e.rooms[-1] for e in await errors.take(10)] == ["queue:ai"]
        channels = await redis_client.pubsub_numsub(keys.channel("owner"))
        assert channels[0][1] == 1
    finally:
        await hub.close()


async def test_a_full_client_queue_stops_only_that_client_and_frees_it(redis_client, keys) -> None:
    # Given a client with room for 5 events that never takes any, and one that keeps up
    hub, bus = await start_hub(redis_client, keys)
    slow, fast = ClientStream(ClientFilter(), 5), ClientStream(ClientFilter(), 5)
    hub.attach(slow)
    hub.attach(fast)
    taken: list[str] = []

    async def keep_up() -> None:
        while len(taken) < 50:
            taken.extend(event.id for event in await fast.take(100))

    reader = asyncio.create_task(keep_up())
    try:
        # When 50 events are published
        ids = [(await bus.publish(EventDraft("job.progress", data={"n": n}))).id for n in range(50)]
        await asyncio.wait_for(reader, 10)
        # Then the fast client took all 50 in order, and the slow one was stopped, emptied and detached
        assert taken == ids
        assert slow.stop_reason is StopReason.TOO_SLOW
        assert slow.pending == 0
        assert await slow.take(10) == []
        assert hub.client_count == 1
    finally:
        await hub.close()


async def test_after_losing_its_connection_the_hub_backfills_from_the_stream(redis_client, keys) -> None:
    # Given a hub with one client, which has seen one event
    hub, bus = await start_hub(redis_client, keys)
    client = ClientStream(ClientFilter(), 1_000)
    hub.attach(client)
    try:
        await bus.publish(EventDraft("job.progress", data={"n": 0}))
        await eventually(lambda: _ready(client, 1))
        # When its pub/sub connection is killed and events are published before it is back
        await redis_client.client_kill_filter(_type="pubsub")
        for n in range(1, 20):
            await bus.publish(EventDraft("job.progress", data={"n": n}))
        # Then the client still gets every event once, in order
        await eventually(lambda: _ready(client, 20), timeout=60)
        events = await client.take(100)
        assert [e.raw.count('"n":') for e in events] == [1] * 20
        assert [int(e.raw.split('"n":')[1].split("}")[0]) for e in events] == list(range(20))
        assert hub.subscriptions >= 2
    finally:
        await hub.close()


async def _ready(client: ClientStream, count: int) -> bool:
    return client.pending >= count
