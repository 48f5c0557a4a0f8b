"""Alerts on real traffic: fired once and resolved, cool-down, history, realtime events, signed webhooks, and
several processes evaluating at once."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from pydantic import SecretStr

from corral.realtime.bus import EventBus
from corral.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from monitoring.monitoring_peers import spawn_worker, two_queue_registry

from support import eventually


async def alert_events(redis_client, keys) -> list[tuple[str, str]]:
    return [
        (event.type, event.data["key"])
        for event in await EventBus(redis_client, keys).latest()
        if event.type.startswith("alert.")
    ]


async def test_stopping_every_worker_of_a_busy_queue_fires_an_alert_and_starting_one_resolves_it(
    start_worker, monitoring_for, make_producer, redis_client, keys
) -> None:
    # Given a worker on `work` (whose process also evaluates alerts) and an evaluator loop elsewhere (an API)
    registry = two_queue_registry()
    monitoring = monitoring_for(registry)
    evaluator = monitoring.evaluator()
    evaluator.start()
    try:
        worker = await start_worker(registry, queues=["work"])
        await eventually(monitoring.workers.views)
        # When the worker stops and three jobs wait
        await worker.stop()
        producer = make_producer(registry)
        for value in range(3):
            await producer.enqueue("test.echo", {"value": value})
        # Then the no-workers alert fires, critical, with the backlog as evidence
        firing = await eventually(monitoring.alerts.firing)
        alert = firing["no_workers:work"]
        assert (alert.rule, alert.queue, alert.severity) == ("no_workers", "work", "critical")
        assert alert.evidence["backlog"] == 3 and alert.evidence["live_workers"] == 0
        assert "corral worker --queue work" in alert.recommendation
        # ... the health report says the same
        report, _ = await monitoring.health.health()
        assert [issue.key for issue in report.issues] == ["no_workers:work"]
        # ... and evaluations that follow do not fire it again
        await asyncio.sleep(1.0)
        assert await alert_events(redis_client, keys) == [("alert.fired", "no_workers:work")]
        # When a worker starts again and takes the jobs
        await start_worker(registry, queues=["work"])

        async def resolved():
            return not await monitoring.alerts.firing()

        await eventually(resolved)
    finally:
        await evaluator.stop()
    # Then it resolved once, the history keeps both transitions and the events were published once each
    history, total = await monitoring.alerts.history()
    assert total == 2
    assert [(item.event, item.alert.key) for item in history] == [
        ("resolved", "no_workers:work"),
        ("fired", "no_workers:work"),
    ]
    assert history[0].alert.resolved_at is not None and history[0].alert.id == alert.id
    assert await alert_events(redis_client, keys) == [
        ("alert.fired", "no_workers:work"),
        ("alert.resolved", "no_workers:work"),
    ]


async def test_a_resolved_alert_cools_down_before_firing_again(
    monitoring_for, monitoring_settings, make_producer, engine
) -> None:
    # Given a waiting job, no worker, and evaluators with and without a cool-down
    registry = two_queue_registry()
    quick = {"alert_interval_seconds": 0.001}
    quiet = monitoring_for(registry, monitoring_settings.model_copy(update={**quick, "alert_cooldown_seconds": 60}))
    eager = monitoring_for(registry, monitoring_settings.model_copy(update=quick))
    await make_producer(registry).enqueue("test.echo", {"value": 1})
    first = await quiet.evaluator().evaluate()
    assert first is not None and [a.key for a in first.fired] == ["no_workers:work"]
    # When the queue is paused (no worker is expected) and resumed
    await engine.pause("work")
    paused = await quiet.evaluator().evaluate()
    assert paused is not None and [a.key for a in paused.resolved] == ["no_workers:work"]
    await engine.resume("work")
    # Then within the cool-down it does not fire again
    again = await quiet.evaluator().evaluate()
    assert again is not None and again.fired == [] and await eager.alerts.firing() == {}
    # And without one it fires anew, as a new alert
    await eager.alerts.redis.delete(eager.cache.keys.alert_cooldown("no_workers:work"))
    refired = await eager.evaluator().evaluate()
    assert refired is not None and [a.key for a in refired.fired] == ["no_workers:work"]
    assert refired.fired[0].id > first.fired[0].id


async def test_only_issues_at_the_alerting_severity_fire(monitoring_for, monitoring_settings, make_producer) -> None:
    # Given a warning-level backlog and an evaluator that alerts on critical issues only
    settings = monitoring_settings.model_copy(
        update={"health_backlog_warning": 1, "alert_min_severity": "critical", "alert_interval_seconds": 0.001}
    )
    registry = two_queue_registry()
    monitoring = monitoring_for(registry, settings)
    await monitoring.engine.pause("work")
    await make_producer(registry).enqueue("test.echo", {"value": 1})
    # When it evaluates, then the warning shows in health but no alert fires
    outcome = await monitoring.evaluator().evaluate()
    assert outcome is not None and outcome.fired == []
    report = await monitoring.health.compute()
    assert [(i.rule, i.severity) for i in report.issues] == [("backlog_size", "warning")]


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    """A real HTTP server on loopback that records the POSTs it gets."""
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/corral"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_alert_transitions_are_posted_to_the_webhook_signed_with_hmac(
    monitoring_for, monitoring_settings, make_producer, engine, webhook_receiver
) -> None:
    # Given a webhook with a secret, and a queue with a waiting job and no worker
    settings = monitoring_settings.model_copy(
        update={
            "alert_webhook_url": webhook_receiver,
            "alert_webhook_secret": SecretStr("s3cret-for-alerts"),
            "alert_interval_seconds": 0.001,
        }
    )
    registry = two_queue_registry()
    evaluator = monitoring_for(registry, settings).evaluator()
    await make_producer(registry).enqueue("test.echo", {"value": 1})
    try:
        # When the alert fires, then resolves
        await evaluator.evaluate()
        await engine.pause("work")
        await evaluator.evaluate()
    finally:
        await evaluator.stop()
    # Then the receiver got both, each signed over its timestamp and body
    assert len(Receiver.received) == 2
    events = []
    for headers, body in Receiver.received:
        assert verify_signature("s3cret-for-alerts", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
        assert not verify_signature("another secret", body, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER])
        document = json.loads(body)
        events.append((document["event"], document["alert"]["key"], headers["X-Corral-Event"]))
    assert events == [
        ("alert.fired", "no_workers:work", "alert.fired"),
        ("alert.resolved", "no_workers:work", "alert.resolved"),
    ]


async def test_two_worker_processes_evaluating_alerts_fire_and_resolve_each_alert_once(
    valkey_url, start_worker, monitoring_for, make_producer, redis_client, keys
) -> None:
    # Given two real worker processes on `other`, each running the alert evaluator every 0.1 s
    registry = two_queue_registry()
    monitoring = monitoring_for(registry)
    processes = [spawn_worker(valkey_url, "other", alert_interval_seconds=0.1) for _ in range(2)]
    try:
        await eventually(lambda: _live(monitoring, 2), timeout=60)
        # When jobs wait on `work`, which no process consumes, for a dozen evaluation periods
        producer = make_producer(registry)
        for value in range(3):
            await producer.enqueue("test.echo", {"value": value})
        await eventually(monitoring.alerts.firing)
        await asyncio.sleep(1.2)
        # Then the alert fired exactly once
        assert await alert_events(redis_client, keys) == [("alert.fired", "no_workers:work")]
        # When a worker for `work` starts (a third evaluator)
        await start_worker(registry, queues=["work"], settings=monitoring.settings)

        async def resolved():
            return not await monitoring.alerts.firing()

        await eventually(resolved)
        await asyncio.sleep(1.0)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    # Then it resolved exactly once too
    assert await alert_events(redis_client, keys) == [
        ("alert.fired", "no_workers:work"),
        ("alert.resolved", "no_workers:work"),
    ]
    _, total = await monitoring.alerts.history()
    assert total == 2


async def _live(monitoring, count: int) -> bool:
    return sum(1 for view in await monitoring.workers.views() if view.status == "live") == count
