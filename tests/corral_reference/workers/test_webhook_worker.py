"""The plugin.webhook job through the real runtime: signed POSTs to a loopback receiver, retries and the DLQ."""

from __future__ import annotations

import json
import time

import pytest

from corral.dlq.store import DeadLetterStore
from corral.producer import Producer
from corral.signing import sign, verify_signature
from corral_reference.workers import plugin_execute

from reference_peers.messaging_peers import ServicesFactory, WebhookReceiver, fast_registry, finished_job, handlers_of
from support import eventually

SECRET = "whsec-test-0123456789"


@pytest.fixture
async def make_services(settings, redis_client, engine):
    factory = ServicesFactory(settings, redis_client, engine)
    yield factory.make
    await factory.close()


async def run_webhook_job(make_services, start_runtime, engine, payload, *, attempts=3, **overrides):
    registry = fast_registry("plugins", attempts=attempts)
    overrides.setdefault("webhook_allow_private", True)
    overrides.setdefault("webhook_secrets", {"main": SECRET})
    services = make_services(**overrides)
    await start_runtime(registry, handlers_of(services, plugin_execute.register), queues=["plugins"])
    job_id = await Producer(engine, registry).enqueue("plugin.webhook", payload)
    return await finished_job(engine, "plugins", job_id)


def webhook(url: str, **fields) -> dict:
    return {"pluginId": "crm", "url": url, "event": "article.published", "body": {"articleId": "a-1"}, **fields}


async def test_signed_webhook_is_verified_by_the_receiver(make_services, start_runtime, engine) -> None:
    # Given a receiver that verifies signatures with the shared secret (401 otherwise)
    with WebhookReceiver(secret=SECRET) as receiver:
        receiver.script["/hooks/crm"] = [204]
        # When a webhook signed with secretRef "main" is posted by hostname
        job = await run_webhook_job(
            make_services, start_runtime, engine, webhook(receiver.url("/hooks/crm", "localhost"), secretRef="main")
        )
    # Then the receiver verified it and the job completed
    assert job.state == "completed", job.failed_reason
    (delivery,) = receiver.deliveries
    assert delivery.signature_valid
    assert job.return_value == {
        "status": 204,
        "deliveryId": f"plugins:{job.id}",
        "signed": True,
        "durationMs": job.return_value["durationMs"],
    }
    # And the request carried the JSON envelope and the Corral headers
    assert delivery.json() == {
        "event": "article.published",
        "pluginId": "crm",
        "deliveryId": f"plugins:{job.id}",
        "data": {"articleId": "a-1"},
    }
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["host"] == f"localhost:{receiver.port}"
    assert delivery.headers["x-corral-event"] == "article.published"
    assert delivery.headers["x-corral-delivery"] == f"plugins:{job.id}"
    assert abs(int(delivery.headers["x-corral-timestamp"]) - time.time()) < 30
    assert verify_signature(
        SECRET, delivery.body, delivery.headers["x-corral-timestamp"], delivery.headers["x-corral-signature"]
    )


async def test_a_bad_signature_is_rejected_by_the_receiver(make_services, start_runtime, engine) -> None:
    # Given a receiver expecting another secret
    with WebhookReceiver(secret="another-secret") as receiver:
        receiver.script["/hooks/crm"] = [200]
        # When a webhook signed with "main" is posted
        job = await run_webhook_job(
            make_services, start_runtime, engine, webhook(receiver.url("/hooks/crm"), secretRef="main")
        )
    # Then the receiver refused it (401) and the job went to the DLQ after one attempt
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert job.failed_reason == "webhook 127.0.0.1 answered 401 Unauthorized"
    assert [delivery.signature_valid for delivery in receiver.deliveries] == [False]


async def test_404_goes_to_the_dlq_after_one_attempt(make_services, start_runtime, engine, redis_client, keys) -> None:
    # Given a receiver that answers 404
    with WebhookReceiver() as receiver:
        receiver.script["/gone"] = [404]
        # When a webhook with three attempts is posted
        job = await run_webhook_job(make_services, start_runtime, engine, webhook(receiver.url("/gone")), attempts=3)
    # Then one request was made, the job failed unrecoverably, and the DLQ holds it
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert len(receiver.deliveries) == 1
    entries = await eventually(DeadLetterStore(redis_client, keys).recent)
    assert [(entry.name, entry.failed_reason, entry.attempts_made) for entry in entries] == [
        ("plugin.webhook", "webhook 127.0.0.1 answered 404 Not Found", 1)
    ]


async def test_503_is_retried_until_the_receiver_recovers(make_services, start_runtime, engine) -> None:
    # Given a receiver that answers 503 twice, then 200
    with WebhookReceiver() as receiver:
        receiver.script["/flaky"] = [503, 503, 200]
        # When a webhook with three attempts is posted
        job = await run_webhook_job(make_services, start_runtime, engine, webhook(receiver.url("/flaky")), attempts=3)
    # Then it was retried and completed on the third attempt, with the same delivery id each time
    assert job.state == "completed", job.failed_reason
    assert job.attempts_made in (2, 3)  # bullmq counts the final successful attempt differently across versions
    assert len(receiver.deliveries) == 3
    assert len({delivery.headers["x-corral-delivery"] for delivery in receiver.deliveries}) == 1
    assert job.return_value["signed"] is False


async def test_503_every_time_exhausts_the_attempts(make_services, start_runtime, engine, redis_client, keys) -> None:
    # Given a receiver that always answers 503
    with WebhookReceiver() as receiver:
        receiver.script["/down"] = [503]
        # When a webhook with three attempts is posted
        job = await run_webhook_job(make_services, start_runtime, engine, webhook(receiver.url("/down")), attempts=3)
    # Then all three attempts were made before it reached the DLQ
    assert job.state == "failed"
    assert job.attempts_made == 3
    assert len(receiver.deliveries) == 3
    entries = await eventually(DeadLetterStore(redis_client, keys).recent)
    assert [entry.failed_reason for entry in entries] == ["webhook 127.0.0.1 answered 503 Service Unavailable"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_addresses_are_refused_unless_allowed(make_services, start_runtime, engine, host) -> None:
    # Given a receiver on loopback and the default policy (private targets not allowed)
    with WebhookReceiver() as receiver:
        receiver.script["/hook"] = [200]
        # When a webhook to it is posted
        job = await run_webhook_job(
            make_services, start_runtime, engine, webhook(receiver.url("/hook", host)), webhook_allow_private=False
        )
    # Then it failed at once without any request being made
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert job.failed_reason.startswith(f"webhook {host} refused: it resolves to 127.0.0.1")
    assert receiver.deliveries == []


async def test_unknown_secret_ref_is_unrecoverable(make_services, start_runtime, engine) -> None:
    # Given a receiver and a job naming a secret that is not configured
    with WebhookReceiver() as receiver:
        receiver.script["/hook"] = [200]
        job = await run_webhook_job(
            make_services, start_runtime, engine, webhook(receiver.url("/hook"), secretRef="nope")
        )
    # Then it failed at once and nothing was sent unsigned
    assert job.state == "failed"
    assert job.attempts_made == 1
    # (the reason quotes the secret reference, a secret field: it is stored masked)
    assert job.failed_reason == "unknown webhook secretRef '••••'"
    assert receiver.deliveries == []


async def test_network_errors_are_retried(make_services, start_runtime, engine) -> None:
    # Given a port where nothing listens any more
    with WebhookReceiver() as receiver:
        url = receiver.url("/hook")
    # When a webhook with two attempts is posted there
    job = await run_webhook_job(make_services, start_runtime, engine, webhook(url), attempts=2)
    # Then both attempts were made and the reason says it was unreachable
    assert job.state == "failed"
    assert job.attempts_made == 2
    assert job.failed_reason.startswith("webhook 127.0.0.1 unreachable: ConnectError")


def test_signature_verification_rejects_tampering_and_stale_timestamps() -> None:
    # Given a signed body
    body = json.dumps({"event": "x"}).encode()
    now = int(time.time())
    signature = sign(SECRET, now, body)
    # Then it verifies as sent, and not when the body, secret or timestamp changes or it is too old
    assert verify_signature(SECRET, body, str(now), signature)
    assert not verify_signature(SECRET, body + b" ", str(now), signature)
    assert not verify_signature("other", body, str(now), signature)
    assert not verify_signature(SECRET, body, str(now + 1), signature)
    assert not verify_signature(SECRET, body, str(now - 600), sign(SECRET, now - 600, body))
    assert not verify_signature(SECRET, body, "not-a-number", signature)
