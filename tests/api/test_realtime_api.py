"""The owner WebSocket gateway served on loopback, with real WebSocket clients: auth, rooms, filters, latest
events, resume, back-pressure, heartbeats and two API processes."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
import threading
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api.realtime_peers import close_code, collect_events, next_frame, open_socket, quiet_for, ws_url
from corral.api import create_app
from corral.connection import redis_client as corral_client
from corral.keys import Keys
from corral.realtime import EventBus, EventDraft, Severity


def bus_of(redis_client, settings) -> EventBus:
    return EventBus(redis_client, Keys.for_server(settings.key_prefix, settings.redis_url or ""))


async def publish_numbered(bus: EventBus, count: int, start: int = 0, **fields: Any) -> list[str]:
    ids = []
    for n in range(start, start + count):
        event = await bus.publish(EventDraft("job.progress", queue=fields.get("queue", "email"), data={"n": n}))
        ids.append(event.id)
    return ids


# Authentication


async def test_a_socket_without_credentials_is_closed_with_4401(live_api) -> None:
    # Given the served API
    api = await asyncio.to_thread(live_api)
    # When a client connects without any credential, then with a wrong token
    anonymous = await open_socket(api.base)
    wrong = await open_socket(api.base, "crl_not-a-real-token")
    # Then both are closed with 4401 and a reason saying what to do
    code, reason = await close_code(anonymous)
    assert code == 4401
    assert "sign in" in (reason or "")
    assert (await close_code(wrong))[0] == 4401


async def test_a_non_owner_is_closed_with_4403(live_api) -> None:
    # Given an account without the realtime permission
    api = await asyncio.to_thread(live_api)
    # When it connects with its valid token
    ws = await open_socket(api.base, api.viewer_token)
    # Then it is closed with 4403 naming the permission
    code, reason = await close_code(ws)
    assert code == 4403
    assert "realtime" in (reason or "")


async def test_the_owner_connects_by_header_subprotocol_query_or_session_cookie(live_api) -> None:
    # Given the owner's token and a signed-in session
    api = await asyncio.to_thread(live_api)
    client, _csrf = await asyncio.to_thread(api.signed_in)
    cookie = f"corral_session={client.cookies['corral_session']}"
    host = api.base.removeprefix("http://")
    # When the owner connects in each way a browser or a script can
    by_header = await open_socket(api.base, api.owner_token)
    by_protocol = await connect(ws_url(api.base), subprotocols=["corral.v1", f"bearer.{api.owner_token}"])
    by_query = await connect(ws_url(api.base, token=api.owner_token))
    by_cookie = await open_socket(api.base, headers={"Cookie": cookie, "Origin": f"http://{host}"})
    # Then each gets the hello frame; the subprotocol client is answered with corral.v1 (never its token)
    for ws in (by_header, by_protocol, by_query, by_cookie):
        hello = await next_frame(ws, "hello")
        assert hello["rooms"] == ["global"]
        await ws.close()
    assert by_protocol.subprotocol == "corral.v1"


async def test_a_session_cookie_from_another_site_is_refused(live_api) -> None:
    # Given a signed-in session (the browser would send its cookie along)
    api = await asyncio.to_thread(live_api)
    client, _csrf = await asyncio.to_thread(api.signed_in)
    cookie = f"corral_session={client.cookies['corral_session']}"
    # When a page of another origin opens the socket with that cookie
    ws = await open_socket(api.base, headers={"Cookie": cookie, "Origin": "https://evil.example"})
    # Then it is closed as unauthenticated
    code, reason = await close_code(ws)
    assert code == 4401
    assert "Origin" in (reason or "")


async def test_a_session_cookie_from_a_page_of_this_host_over_another_scheme_is_refused(live_api) -> None:
    # Given a signed-in session on this plain-http API
    api = await asyncio.to_thread(live_api)
    client, _csrf = await asyncio.to_thread(api.signed_in)
    cookie = f"corral_session={client.cookies['corral_session']}"
    host = api.base.removeprefix("http://")
    # When a page of the same host and port, but served over https (another origin), opens the socket
    ws = await open_socket(api.base, headers={"Cookie": cookie, "Origin": f"https://{host}"})
    # Then it is closed as unauthenticated: the origin's scheme counts
    code, reason = await close_code(ws)
    assert code == 4401
    assert "Origin" in (reason or "")


async def test_invalid_connection_parameters_close_with_4400(live_api) -> None:
    api = await asyncio.to_thread(live_api)
    # When the owner asks for an unknown room, an unknown severity or a malformed resume id
    for query in ({"rooms": "queue:nope"}, {"severity": "loud"}, {"last_id": "yesterday"}):
        ws = await open_socket(api.base, api.owner_token, **query)
        # Then the socket is closed with 4400 and a reason naming the parameter
        code, reason = await close_code(ws)
        assert code == 4400, query
        assert next(iter(query)) in (reason or ""), reason


# Handshake admission: limits per address before a socket is accepted


async def handshake_outcome(base: str, **options: Any) -> int:
    """A socket's close code, or the HTTP status of a refused handshake."""
    try:
        async with connect(ws_url(base), open_timeout=60, close_timeout=30, **options) as ws:
            try:
                async with asyncio.timeout(60):
                    while True:
                        await ws.recv()
            except ConnectionClosed:
                pass
            assert ws.close_code is not None
            return ws.close_code
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_an_address_that_keeps_failing_is_refused_before_its_sockets_are_accepted(live_api) -> None:
    # Given a gateway that takes 5 failed authentications per address and minute
    api = await asyncio.to_thread(live_api, realtime_auth_failures="5/minute")
    bad = {"additional_headers": {"Authorization": "Bearer crl_guess-0123456789"}}
    # When an address fails five times, then tries again, even with a valid token
    failures = [await handshake_outcome(api.base, **bad) for _ in range(5)]
    with_valid_token = await asyncio.gather(
        handshake_outcome(api.base, additional_headers={"Authorization": f"Bearer {api.owner_token}"}),
        handshake_outcome(api.base, subprotocols=["corral.v1", f"bearer.{api.owner_token}"]),
    )
    # Then the five were closed with 4401, and the next handshakes are refused with 429 before being accepted
    assert failures == [4401] * 5
    assert list(with_valid_token) == [429, 429]
    try:
        await connect(ws_url(api.base), additional_headers=bad["additional_headers"], open_timeout=60)
        raise AssertionError("the handshake was accepted")
    except InvalidStatus as refused:
        assert int(refused.response.headers["Retry-After"]) >= 1
        assert refused.response.headers["Content-Type"].startswith("application/problem+json")
        assert b"too many failed WebSocket authentications" in refused.response.body


async def test_a_burst_of_unauthenticated_sockets_ends_each_in_a_close_code_and_one_line(live_api, caplog) -> None:
    # Given a gateway whose failure budget does not stop the burst (the pending cap and slots must hold it)
    caplog.set_level(logging.INFO)
    api = await asyncio.to_thread(live_api, realtime_auth_failures="100000/minute", rate_limit_reads="100000/minute")
    owner = await asyncio.to_thread(api.owner)
    # When 600 sockets with wrong tokens open at once, while the owner makes a request
    headers = {"Authorization": "Bearer crl_burst-guess-0123456789"}
    burst = asyncio.gather(*(handshake_outcome(api.base, additional_headers=headers) for _ in range(600)))
    answer = await asyncio.to_thread(owner.get, "/owner/queues")
    outcomes = await burst
    # Then every socket ended in a close code 4401 or a refused handshake (429), none died abruptly
    assert set(outcomes) <= {4401, 429}, sorted(set(outcomes))
    # And the owner was answered meanwhile
    assert answer.status_code == 200
    # And each failure wrote one line: no traceback, one gateway line per 4401, one server line per 429
    records = caplog.records
    assert [r.getMessage() for r in records if r.exc_info] == []
    refused_lines = [r for r in records if r.name == "corral.api.realtime" and "refused (4401)" in r.getMessage()]
    denied_lines = [r for r in records if r.name.startswith("uvicorn") and r.getMessage().endswith(" 429")]
    assert len(refused_lines) == outcomes.count(4401)
    assert len(denied_lines) == outcomes.count(429)


# Latest events, rooms, severity


async def test_latest_events_are_sent_on_connect_filtered_by_room_and_severity(
    live_api, redis_client, settings
) -> None:
    # Given events published before anyone connected
    api = await asyncio.to_thread(live_api)
    bus = bus_of(redis_client, settings)
    first = await bus.publish(EventDraft("job.completed", queue="email"))
    await bus.publish(EventDraft("job.completed", queue="ai"))
    failed = await bus.publish(EventDraft("job.failed", queue="email", severity=Severity.ERROR))
    # When clients connect to the global room, and to queue:email at warning and above
    everything = await open_socket(api.base, api.owner_token)
    email_errors = await open_socket(api.base, api.owner_token, rooms="queue:email", severity="warning")
    # Then each gets its latest events, oldest first
    latest = await next_frame(everything, "latest")
    assert [e["queue"] for e in latest["events"]] == ["email", "ai", "email"]
    assert latest["events"][0]["id"] == first.id
    filtered = await next_frame(email_errors, "latest")
    assert [e["id"] for e in filtered["events"]] == [failed.id]
    await everything.close()
    await email_errors.close()


async def test_rooms_subscribe_and_unsubscribe(live_api, redis_client, settings) -> None:
    # Given a client in queue:email and one in the workflows room
    api = await asyncio.to_thread(live_api)
    bus = bus_of(redis_client, settings)
    earlier = await bus.publish(EventDraft("job.completed", queue="ai"))
    email = await open_socket(api.base, api.owner_token, rooms="queue:email")
    workflows = await open_socket(api.base, api.owner_token, rooms="workflows")
    await next_frame(email, "latest")
    await next_frame(workflows, "latest")
    # When events of three queues are published
    for queue in ("ai", "email", "workflows"):
        await bus.publish(EventDraft("job.started", queue=queue))
    # Then each client receives only its room's event
    assert [e["queue"] for e in await collect_events(email, 1)] == ["email"]
    assert [e["queue"] for e in await collect_events(workflows, 1)] == ["workflows"]
    # When the email client subscribes to queue:ai as well
    await email.send(json.dumps({"action": "subscribe", "rooms": ["queue:ai"]}))
    subscribed = await next_frame(email, "subscribed")
    assert subscribed["current"] == ["queue:ai", "queue:email"]
    # Then it gets queue:ai's latest events (those it had not been sent), then ai's live events
    latest = await next_frame(email, "latest")
    assert [e["queue"] for e in latest["events"]] == ["ai", "ai"]
    assert latest["events"][0]["id"] == earlier.id
    await bus.publish(EventDraft("job.completed", queue="ai"))
    assert [e["type"] for e in await collect_events(email, 1)] == ["job.completed"]
    # When it unsubscribes from queue:email, email events stop reaching it
    await email.send(json.dumps({"action": "unsubscribe", "rooms": ["queue:email"]}))
    assert (await next_frame(email, "unsubscribed"))["current"] == ["queue:ai"]
    await bus.publish(EventDraft("job.completed", queue="email"))
    marker = await bus.publish(EventDraft("job.completed", queue="ai"))
    assert [e["id"] for e in await collect_events(email, 1)] == [marker.id]
    await email.close()
    await workflows.close()


async def test_the_severity_filter_drops_events_below_it(live_api, redis_client, settings) -> None:
    # Given a connected client
    api = await asyncio.to_thread(live_api)
    bus = bus_of(redis_client, settings)
    ws = await open_socket(api.base, api.owner_token)
    await next_frame(ws, "latest")
    # When it sets its filter to warning
    await ws.send(json.dumps({"action": "filter", "severity": "warning"}))
    assert (await next_frame(ws, "filter"))["severity"] == "warning"
    # And events of every severity are published
    for severity in Severity:
        await bus.publish(EventDraft("alert.fired", severity=severity))
    # Then it receives warning, error and critical only
    got = await collect_events(ws, 3)
    assert [e["severity"] for e in got] == ["warning", "error", "critical"]
    assert await quiet_for(ws, 0.3) == []
    await ws.close()


async def test_invalid_messages_get_clear_errors_and_malformed_ones_close_with_4400(live_api) -> None:
    api = await asyncio.to_thread(live_api)
    ws = await open_socket(api.base, api.owner_token)
    await next_frame(ws, "latest")
    cases = [
        ({"action": "dance"}, "action"),
        ({"action": "subscribe"}, "rooms"),
        ({"action": "subscribe", "rooms": ["queue:nope"]}, "rooms.0"),
        ({"action": "subscribe", "rooms": ["lobby"]}, "rooms.0"),
        ({"action": "filter", "severity": "loud"}, "severity"),
        ({"action": "ping", "extra": 1}, "extra"),
    ]
    for message, field in cases:
        # When a well-formed message has invalid content
        await ws.send(json.dumps(message))
        error = await next_frame(ws, "error")
        # Then an error frame names the field, and the connection stays open
        assert error["errors"][0]["field"] == field, error
    await ws.send(json.dumps({"action": "ping"}))
    assert (await next_frame(ws, "pong"))["type"] == "pong"
    # When a message is not JSON at all
    await ws.send("hello?")
    # Then the socket is closed with 4400
    code, reason = await close_code(ws)
    assert code == 4400
    assert "JSON" in (reason or "")


# Heartbeats and idle timeout


async def test_heartbeats_are_sent_and_an_idle_client_is_closed_with_4408(live_api) -> None:
    # Given short heartbeat and idle settings
    api = await asyncio.to_thread(live_api, realtime_heartbeat_seconds=0.2, realtime_idle_timeout_seconds=1.5)
    pinging = await open_socket(api.base, api.owner_token)
    silent = await open_socket(api.base, api.owner_token)
    # When one client pings now and then and the other says nothing
    started = time.monotonic()
    beats = 0
    while time.monotonic() - started < 2.5:
        await pinging.send(json.dumps({"action": "ping"}))
        await next_frame(pinging, "pong")
        await next_frame(pinging, "heartbeat")
        beats += 1
    # Then the silent one is closed with 4408, the pinging one still gets heartbeats
    code, _reason = await close_code(silent)
    assert code == 4408
    assert beats >= 3
    await pinging.send(json.dumps({"action": "ping"}))
    assert (await next_frame(pinging, "pong"))["type"] == "pong"
    await pinging.close()


# Resume


async def publish_until(bus: EventBus, stop: asyncio.Event, published: list[int]) -> None:
    """Publish numbered `job.progress` events every 2 ms until `stop` is set; `published` holds their numbers."""
    n = 0
    while not stop.is_set():
        await bus.publish(EventDraft("job.progress", queue="email", data={"n": n}))
        published.append(n)
        n += 1
        await asyncio.sleep(0.002)


async def read_resumed(
    again: Any, seen: list[int], published: list[int], stop: asyncio.Event, publisher: asyncio.Task[None]
) -> dict[str, Any]:
    """After a resume: the missed events, the `resumed` frame, 150 live ones; then stop publishing and read the
    rest. Appends every event's number to `seen`; returns the `resumed` frame."""
    resumed: dict[str, Any] | None = None
    async with asyncio.timeout(60):
        while resumed is None or len(seen) < resumed["count"] + 150:
            body = json.loads(await again.recv())
            assert body["type"] not in ("gap", "latest"), body
            if body["type"] == "events":
                seen.extend(e["data"]["n"] for e in body["events"])
            elif body["type"] == "resumed":
                resumed = body
        stop.set()
        await publisher
        while len(seen) < len(published):
            seen.extend(e["data"]["n"] for e in await collect_events(again, 1))
    return resumed


async def test_resume_after_a_disconnect_has_no_gap_and_no_duplicate(live_api, redis_client, settings) -> None:
    # Given a publisher that never stops, and a client that reads part of the stream then drops
    api = await asyncio.to_thread(live_api)
    bus = bus_of(redis_client, settings)
    ws = await open_socket(api.base, api.owner_token)
    await next_frame(ws, "latest")
    published: list[int] = []
    stop = asyncio.Event()
    publisher = asyncio.create_task(publish_until(bus, stop, published))
    try:
        first = await collect_events(ws, 50)
        await ws.close()
        # When it reconnects with the last id it saw, while events keep coming
        await asyncio.sleep(0.3)
        again = await open_socket(api.base, api.owner_token, last_id=first[-1]["id"])
        seen = [e["data"]["n"] for e in first]
        resumed = await read_resumed(again, seen, published, stop, publisher)
    finally:
        stop.set()
        await publisher
    # Then every event came exactly once, in order: those it missed, then the live ones
    assert seen == list(range(len(published)))
    assert resumed is not None and resumed["count"] > 0
    await again.close()


async def test_resume_past_retention_reports_a_gap_then_latest(live_api, redis_client, settings) -> None:
    # Given events whose older part was already trimmed from the retained stream
    api = await asyncio.to_thread(live_api)
    bus = bus_of(redis_client, settings)
    ids = await publish_numbered(bus, 3)
    await redis_client.xtrim(
        Keys.for_server(settings.key_prefix, settings.redis_url or "").event_stream, maxlen=1, approximate=False
    )
    # When a client resumes from the first id
    ws = await open_socket(api.base, api.owner_token, last_id=ids[0])
    # Then it is told of the gap and gets the latest events instead
    gap = await next_frame(ws, "gap")
    assert gap["lastId"] == ids[0]
    latest = await next_frame(ws, "latest")
    assert [e["id"] for e in latest["events"]] == ids
    await ws.close()


# Back-pressure


def raw_slow_socket(base: str, token: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then reads nothing (a tiny receive buffer)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    request = (
        f"GET /owner/realtime HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def drain_until_close(sock: socket.socket, timeout: float = 30.0) -> int | None:
    """Read server frames until a close frame; its code (None if the socket just ended)."""
    sock.settimeout(timeout)
    reader = sock.makefile("rb")
    try:
        while True:
            head = reader.read(2)
            if len(head) < 2:
                return None
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", reader.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", reader.read(8))[0]
            payload = reader.read(length)
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])
    finally:
        reader.close()
        sock.close()


async def test_a_slow_client_is_dropped_with_4429_while_a_fast_one_keeps_every_event(
    live_api, redis_client, settings
) -> None:
    # Given a small per-client queue, a client that reads nothing and one that reads everything
    api = await asyncio.to_thread(live_api, realtime_client_queue=50)
    bus = bus_of(redis_client, settings)
    slow = await asyncio.to_thread(raw_slow_socket, api.base, api.owner_token)
    fast = await open_socket(api.base, api.owner_token)
    await next_frame(fast, "latest")
    # When large events are published in batches of ten, each after the fast client has read the ones before (so
    # its queue never holds more than ten, however slow the machine), while the slow client reads nothing
    padding = "x" * 16_000
    count = 600
    got: list[dict[str, Any]] = []

    async def read_all() -> None:
        while len(got) < count:
            body = json.loads(await fast.recv())
            if body["type"] == "events":
                got.extend(body["events"])

    reading = asyncio.create_task(read_all())
    for n in range(count):
        await bus.publish(EventDraft("job.progress", queue="email", data={"n": n, "pad": padding}))
        if n % 10 == 9:
            async with asyncio.timeout(120):
                while len(got) <= n and not reading.done():
                    await asyncio.sleep(0.005)
    slow_closed = asyncio.create_task(asyncio.to_thread(drain_until_close, slow))
    # Then the fast client got every event in order, and the slow one was closed as too slow
    async with asyncio.timeout(120):
        await reading
    assert [e["data"]["n"] for e in got] == list(range(count))
    assert await slow_closed == 4429
    await fast.close()


# Scale-out and service events


def test_queue_pause_resume_and_purge_publish_events(live_api) -> None:
    # Given a client on the email room and the owner's HTTP client
    api = live_api()
    owner = api.owner()

    async def scenario() -> list[dict[str, Any]]:
        ws = await open_socket(api.base, api.owner_token, rooms="queue:email")
        await next_frame(ws, "latest")
        # When the owner pauses, resumes and purges the email queue
        for path in ("/owner/queues/email/pause", "/owner/queues/email/resume"):
            assert (await asyncio.to_thread(owner.post, path)).status_code == 200
        preview = (await asyncio.to_thread(owner.post, "/owner/queues/email/purge", json={})).json()
        body = {"confirmation_token": preview["confirmation_token"], "phrase": preview["phrase"]}
        assert (await asyncio.to_thread(owner.post, "/owner/queues/email/purge", json=body)).status_code == 200
        events = await collect_events(ws, 3)
        await ws.close()
        return events

    # Then the client saw the three events, in order
    events = asyncio.run(scenario())
    assert [(e["type"], e["queue"]) for e in events] == [
        ("queue.paused", "email"),
        ("queue.resumed", "email"),
        ("queue.purged", "email"),
    ]
    assert events[2]["data"] == {"removed": 0}


def test_an_event_published_once_reaches_clients_of_two_api_processes(
    live_api, settings, valkey_url, serve_app
) -> None:
    # Given the API served twice, on two ports, and a client on each
    first = live_api()
    second_base = serve_app(create_app(first.settings, valkey_url))

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        a = await open_socket(first.base, first.owner_token)
        b = await open_socket(second_base, first.owner_token)
        await next_frame(a, "latest")
        await next_frame(b, "latest")
        # When the queue is paused through the first process (one publication)
        response = await asyncio.to_thread(
            httpx.post, f"{first.base}/owner/queues/ai/pause", headers={"Authorization": f"Bearer {first.owner_token}"}
        )
        assert response.status_code == 200
        got = await collect_events(a, 1), await collect_events(b, 1)
        await a.close()
        await b.close()
        return got

    # Then both clients receive it once, with the same id
    on_first, on_second = asyncio.run(scenario())
    assert [e["type"] for e in on_first] == ["queue.paused"]
    assert on_first == on_second
    assert threading.active_count() >= 2


def test_a_client_resumes_on_another_api_process_with_no_gap_and_no_duplicate(
    live_api, settings, valkey_url, serve_app
) -> None:
    # Given the API served twice, on two ports, and a publisher that never stops
    first = live_api()
    second_base = serve_app(create_app(first.settings, valkey_url))

    async def scenario() -> tuple[list[int], list[int], dict[str, Any] | None]:
        redis = corral_client(valkey_url)
        bus = bus_of(redis, settings)
        published: list[int] = []
        stop = asyncio.Event()
        ws = await open_socket(first.base, first.owner_token)
        await next_frame(ws, "latest")
        publisher = asyncio.create_task(publish_until(bus, stop, published))
        resumed: dict[str, Any] | None = None
        try:
            # When a client of the first process reads part of the stream, drops, and reconnects to the second
            got = await collect_events(ws, 50)
            await ws.close()
            await asyncio.sleep(0.3)
            again = await open_socket(second_base, first.owner_token, last_id=got[-1]["id"])
            seen = [e["data"]["n"] for e in got]
            resumed = await read_resumed(again, seen, published, stop, publisher)
            await again.close()
        finally:
            stop.set()
            await publisher
            await redis.aclose()
        return seen, published, resumed

    seen, published, resumed = asyncio.run(scenario())
    # Then the second process sent what the client missed, then the live events: each once, in order
    assert seen == list(range(len(published)))
    assert resumed is not None and resumed["count"] > 0
