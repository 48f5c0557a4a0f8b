"""The producer on a real Valkey: validation before enqueue, typed methods, bulk, options, idempotency."""

from __future__ import annotations

import os

import pytest

from corral.contracts import EnqueueOptions
from corral.engine import Engine
from corral.errors import BatchValidationError, EnqueueError, PayloadValidationError, UnknownJobError
from corral.producer import BulkItem
from corral_reference.contracts import default_registry

from support import make_registry


async def test_valid_payload_is_enqueued_with_queue_policy(make_producer, engine: Engine) -> None:
    # Given the catalogue producer
    producer = make_producer(default_registry())
    # When a typed method enqueues a valid search.index job
    job_id = await producer.search_index(
        {"docType": "article", "docId": "42", "title": "Hello", "body": "World", "tags": ["a"]}
    )
    # Then the job waits on the system queue with the payload as validated
    job = await engine.get_job("system", job_id)
    assert job is not None
    assert job.state == "waiting"
    assert job.name == "search.index"
    assert job.data["docId"] == "42"
    assert job.attempts == default_registry().queue("system").attempts


async def test_invalid_payload_enqueues_nothing_and_names_the_field(make_producer, engine: Engine) -> None:
    producer = make_producer(default_registry())
    # When an email has no recipients
    with pytest.raises(PayloadValidationError) as caught:
        await producer.enqueue("email.send", {"to": [], "subject": "Hi", "text": "body"})
    # Then the error names the field, and the email queue stays empty
    assert [e.field for e in caught.value.errors] == ["to"]
    assert sum((await engine.counts("email")).values()) == 0


async def test_unknown_job_name_is_refused(make_producer) -> None:
    with pytest.raises(UnknownJobError):
        await make_producer(default_registry()).enqueue("no.such.job", {})


async def test_bulk_with_one_bad_item_enqueues_nothing_and_names_every_bad_item(make_producer, engine) -> None:
    producer = make_producer(make_registry())
    # Given a batch with two bad items among good ones
    items = [
        ("test.echo", {"value": 1}),
        ("test.echo", {"value": -1}),
        ("test.echo", {"value": 3}),
        ("test.echo", {"value": 4, "extra": True}),
    ]
    # When it is enqueued in bulk
    with pytest.raises(BatchValidationError) as caught:
        await producer.enqueue_bulk(items)
    # Then nothing was enqueued and the error names items 1 and 3 with their fields
    failures = caught.value.failures
    assert sorted(failures) == [1, 3]
    first, second = failures[1], failures[3]
    assert isinstance(first, PayloadValidationError) and [e.field for e in first.errors] == ["value"]
    assert isinstance(second, PayloadValidationError) and [e.field for e in second.errors] == ["extra"]
    assert "item 1: " in str(caught.value) and "item 3: " in str(caught.value)
    assert sum((await engine.counts("work")).values()) == 0


async def test_bulk_across_queues_returns_ids_in_order(make_producer, engine) -> None:
    producer = make_producer(default_registry())
    ids = await producer.enqueue_bulk(
        [
            BulkItem("search.remove", {"docType": "article", "docId": "1"}),
            BulkItem("system.cleanup", {"target": "completed", "olderThanHours": 24}),
            BulkItem("search.remove", {"docType": "article", "docId": "2"}),
        ]
    )
    assert len(set(ids)) == 3
    first = await engine.get_job("system", ids[0])
    third = await engine.get_job("system", ids[2])
    assert first is not None and first.data["docId"] == "1"
    assert third is not None and third.data["docId"] == "2"


async def test_idempotency_key_makes_one_job(make_producer, engine) -> None:
    producer = make_producer(make_registry())
    # When the same key is used twice
    first = await producer.enqueue("test.echo", {"value": 1}, EnqueueOptions(idempotency_key="order-77"))
    second = await producer.enqueue("test.echo", {"value": 2}, EnqueueOptions(idempotency_key="order-77"))
    # Then one job exists, carrying the first payload
    assert first == second
    assert (await engine.counts("work"))["waiting"] == 1
    job = await engine.get_job("work", first)
    assert job is not None and job.data["value"] == 1
    # And a different key makes a different job
    third = await producer.enqueue("test.echo", {"value": 3}, EnqueueOptions(idempotency_key="order-78"))
    assert third != first


async def test_options_delay_priority_attempts(make_producer, engine) -> None:
    producer = make_producer(make_registry(attempts=3))
    delayed = await producer.enqueue("test.echo", {"value": 1}, EnqueueOptions(delay_ms=60_000))
    urgent = await producer.enqueue("test.echo", {"value": 2}, EnqueueOptions(priority=1, attempts=7))
    delayed_job = await engine.get_job("work", delayed)
    urgent_job = await engine.get_job("work", urgent)
    assert delayed_job is not None and delayed_job.state == "delayed" and delayed_job.delay_ms == 60_000
    assert urgent_job is not None and urgent_job.state == "prioritized" and urgent_job.priority == 1
    assert urgent_job.attempts == 7


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (EnqueueOptions(delay_ms=-1), "delay_ms"),
        (EnqueueOptions(priority=-5), "priority"),
        (EnqueueOptions(attempts=0), "attempts"),
        (EnqueueOptions(idempotency_key=""), "idempotency_key"),
    ],
)
async def test_bad_options_are_refused_before_enqueue(make_producer, engine, options, field) -> None:
    with pytest.raises(EnqueueError, match=field):
        await make_producer(make_registry()).enqueue("test.echo", {"value": 1}, options)
    assert sum((await engine.counts("work")).values()) == 0


async def test_oversized_payload_is_refused(make_producer) -> None:
    producer = make_producer(default_registry())
    body = "x" * 99_000
    events = [{"type": "view", "ts": "2026-01-01T00:00:00Z", "props": {"k": body[:1000]}}] * 1000
    with pytest.raises(PayloadValidationError) as caught:
        await producer.enqueue("analytics.events.ingest", {"events": events})
    assert caught.value.errors[0].field == "payload"


async def test_an_apps_producer_enqueues_and_closes_its_connections(valkey_url: str, engine: Engine) -> None:
    # Given a user's app and the producer it gives for a server
    from corral import Corral, JobContract, QueueConfig

    app = Corral("billing")
    app.add_queue(QueueConfig("billing"))

    class Charge(JobContract):
        invoice: str

    @app.job("billing.charge", queue="billing", contract=Charge)
    async def charge(ctx: object, payload: Charge) -> None:
        return None

    producer = app.producer(valkey_url, key_prefix=os.environ["CORRAL_KEY_PREFIX"])
    # When it enqueues a job and is closed (a connection left open would fail this test at its teardown)
    job_id = await producer.enqueue("billing.charge", {"invoice": "inv-1"})
    await producer.close()
    # Then the job waits on the app's queue
    job = await engine.get_job("billing", job_id)
    assert job is not None and job.data == {"invoice": "inv-1"}
