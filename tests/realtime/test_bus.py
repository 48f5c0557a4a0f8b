"""The event bus on a real Valkey: envelopes, channels, latest events per room, reading after an id."""

from __future__ import annotations

import asyncio
import json

from corral.keys import Keys
from corral.realtime import EventBus, EventDraft, Severity
from corral.realtime.events import Channel, Event


async def test_publish_assigns_increasing_ids_and_reaches_the_global_and_topic_channels(redis_client, keys) -> None:
    # Given listeners on the global and workflows channels
    bus = EventBus(redis_client, keys)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(keys.channel("owner"), keys.channel("workflows"), keys.channel("queues"))
    for _ in range(3):
        await pubsub.get_message(timeout=1)
    # When two events are published, one of the workflows queue and one of email
    first = await bus.publish(EventDraft("job.started", queue="workflows", job_id="7", job_name="workflow.run"))
    second = await bus.publish(EventDraft("job.failed", queue="email", severity=Severity.ERROR, data={"n": 1}))
    # Then ids increase, and each went to the global channel and its own topic channel, as a versioned envelope
    assert first.id < second.id or first.time < second.time
    received = []
    for _ in range(4):
        message = await pubsub.get_message(timeout=2, ignore_subscribe_messages=True)
        assert message is not None
        received.append((message["channel"].rsplit(":", 1)[-1], json.loads(message["data"])))
    assert [(channel, body["id"]) for channel, body in received] == [
        ("owner", first.id),
        ("workflows", first.id),
        ("owner", second.id),
        ("queues", second.id),
    ]
    envelope = received[0][1]
    assert envelope["v"] == 1
    assert envelope["jobName"] == "workflow.run"
    assert envelope["topic"] == Channel.WORKFLOWS.value
    assert Event.from_json(json.dumps(received[2][1])) == second
    await pubsub.aclose()


async def test_latest_events_are_kept_per_room_bounded_and_for_sixty_seconds(redis_client, keys) -> None:
    # Given a bus keeping 3 events per room
    bus = EventBus(redis_client, keys, latest_per_room=3)
    # When five email events and one analytics event are published
    email = [await bus.publish(EventDraft("job.completed", queue="email", data={"n": n})) for n in range(5)]
    analytics = await bus.publish(EventDraft("job.completed", queue="analytics"))
    # Then each room keeps its newest 3, oldest first
    assert [e.id for e in await bus.latest("queue:email")] == [e.id for e in email[2:]]
    assert [e.id for e in await bus.latest("analytics")] == [analytics.id]
    assert [e.id for e in await bus.latest("global")] == [email[3].id, email[4].id, analytics.id]
    assert await bus.latest("plugins") == []
    # And the lists expire with the retention
    ttl = await redis_client.pttl(keys.latest_events("queue:email"))
    assert 0 < ttl <= 60_000


async def test_latest_drops_events_older_than_the_retention(redis_client, keys) -> None:
    # Given a bus with a very short retention
    bus = EventBus(redis_client, keys, retention_ms=300)
    await bus.publish(EventDraft("job.completed", queue="email"))
    # When the retention has passed
    await asyncio.sleep(0.4)
    fresh = await bus.publish(EventDraft("job.completed", queue="ai"))
    # Then only the fresh event is among the latest
    assert [e.id for e in await bus.latest("global")] == [fresh.id]


async def test_after_returns_what_followed_an_id_or_none_when_trimmed(redis_client, keys: Keys) -> None:
    # Given four published events
    bus = EventBus(redis_client, keys)
    ids = [(await bus.publish(EventDraft("job.progress", data={"n": n}))).id for n in range(4)]
    # Then after the first, the other three come back in order; after the last, nothing
    assert [e.id for e in await bus.after(ids[0]) or []] == ids[1:]
    assert await bus.after(ids[3]) == []
    assert await bus.last_id() == ids[3]
    # When the stream is trimmed to its last two events
    await redis_client.xtrim(keys.event_stream, maxlen=2, approximate=False)
    # Then reading after the first id reports a gap, while reading after a retained id still works
    assert await bus.after(ids[0]) is None
    assert [e.id for e in await bus.after(ids[2]) or []] == ids[3:]
    # And once everything is trimmed, only a client that saw the very last event has no gap
    await redis_client.xtrim(keys.event_stream, maxlen=0, approximate=False)
    assert await bus.after(ids[2]) is None
    assert await bus.after(ids[3]) == []
