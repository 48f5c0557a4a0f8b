"""Queue and job operations through the API, double confirmation of destructive actions, enqueue validation."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from opentelemetry import trace

from corral.contracts import EnqueueOptions
from corral.engine import Engine
from corral.producer import Producer
from corral.security.audit import AuditTrail
from corral.sql import Database
from corral_reference.contracts import default_registry

from support import eventually, prefixed_keys
from tracing_support import spans

__all__ = ["spans"]


def enqueue(url: str, *items: tuple[str, dict, EnqueueOptions | None]) -> list[str]:
    async def run() -> list[str]:
        engine = Engine(url, prefixed_keys())
        try:
            producer = Producer(engine, default_registry())
            return [await producer.enqueue(name, payload, options) for name, payload, options in items]
        finally:
            await engine.close()

    return asyncio.run(run())


def remove_doc(doc: str) -> tuple[str, dict, None]:
    return ("search.remove", {"docType": "page", "docId": doc}, None)


def test_queue_list_and_detail_show_counts_and_policy(live_api, valkey_url) -> None:
    api = live_api()
    enqueue(valkey_url, remove_doc("1"), remove_doc("2"))
    owner = api.owner()
    queues = {q["name"]: q for q in owner.get("/owner/queues").json()}
    assert set(queues) == {"ai", "workflows", "analytics", "email", "plugins", "system"}
    assert queues["system"]["counts"]["waiting"] == 2 and queues["system"]["backlog"] == 2
    assert "search.remove" in queues["system"]["job_types"]
    assert owner.get("/owner/queues/system").json()["config"]["attempts"] >= 1
    missing = owner.get("/owner/queues/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_jobs_page_search_and_detail_are_logged_as_data_access(live_api, valkey_url) -> None:
    api = live_api()
    ids = enqueue(valkey_url, *(remove_doc(f"doc-{n}") for n in range(12)))
    owner = api.owner()
    # Pagination, newest first
    first = owner.get("/owner/queues/system/jobs", params={"state": "waiting", "size": 5}).json()
    assert first["total"] == 12 and len(first["items"]) == 5
    third = owner.get("/owner/queues/system/jobs", params={"state": "waiting", "size": 5, "page": 3}).json()
    assert len(third["items"]) == 2
    # Search by payload text and by id
    found = owner.get("/owner/queues/system/jobs", params={"state": "waiting", "q": "doc-11"}).json()
    assert [item["data"]["docId"] for item in found["items"]] == ["doc-11"]
    by_id = owner.get("/owner/queues/system/jobs", params={"state": "waiting", "q": ids[3]}).json()
    assert by_id["items"][0]["id"] == ids[3]
    # Detail with timeline
    detail = owner.get(f"/owner/queues/system/jobs/{ids[0]}").json()
    assert detail["data"] == {"docType": "page", "docId": "doc-0"}
    assert detail["timeline"][0]["event"] == "created"
    # Bad state is a 422 naming the field
    bad = owner.get("/owner/queues/system/jobs", params={"state": "nonsense"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "state"
    # Every payload read was logged
    accesses = asyncio.run(AuditTrail(Database(api.settings.resolved_database_url)).accesses(20))
    assert any(ids[0] in record.target_ids for record in accesses)
    assert all(record.actor == "owner@example.com" for record in accesses)


def test_job_actions_promote_remove_retry(live_api, valkey_url) -> None:
    api = live_api()
    delayed, plain = enqueue(
        valkey_url,
        ("search.remove", {"docType": "page", "docId": "late"}, EnqueueOptions(delay_ms=3_600_000)),
        remove_doc("now"),
    )
    owner = api.owner()
    assert owner.post(f"/owner/queues/system/jobs/{delayed}/promote").status_code == 200
    assert owner.get(f"/owner/queues/system/jobs/{delayed}").json()["state"] == "waiting"
    again = owner.post(f"/owner/queues/system/jobs/{delayed}/promote")
    assert again.status_code == 409 and "only delayed jobs" in again.json()["detail"]
    retry = owner.post(f"/owner/queues/system/jobs/{plain}/retry")
    assert retry.status_code == 409
    assert owner.delete(f"/owner/queues/system/jobs/{plain}").status_code == 200
    assert owner.get(f"/owner/queues/system/jobs/{plain}").status_code == 404


def test_pause_resume_and_clean(live_api) -> None:
    api = live_api()
    owner = api.owner()
    assert owner.post("/owner/queues/email/pause").status_code == 200
    assert owner.get("/owner/queues/email").json()["paused"] is True
    assert owner.post("/owner/queues/email/resume").status_code == 200
    assert owner.get("/owner/queues/email").json()["paused"] is False
    cleaned = owner.post("/owner/queues/email/clean", json={"state": "completed", "older_than_seconds": 0})
    assert cleaned.status_code == 200 and cleaned.json()["affected"] == 0
    bad = owner.post("/owner/queues/email/clean", json={"state": "waiting", "older_than_seconds": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "state"


def test_purge_needs_the_token_and_the_typed_queue_name(live_api, valkey_url) -> None:
    api = live_api()
    enqueue(valkey_url, *(remove_doc(str(n)) for n in range(3)))
    owner = api.owner()
    # First call: the exact impact and a token, nothing removed
    preview = owner.post("/owner/queues/system/purge", json={}).json()
    assert preview["status"] == "confirmation_required"
    assert preview["count"] == 3 and len(preview["sample"]) == 3 and preview["queues"] == ["system"]
    assert preview["phrase"] == "system" and preview["expires_in"] == 120
    assert owner.get("/owner/queues/system").json()["backlog"] == 3
    token = preview["confirmation_token"]
    # Without the phrase, with a wrong phrase, or with the token on another action: refused, nothing happens
    for body, path in [
        ({"confirmation_token": token}, "/owner/queues/system/purge"),
        ({"confirmation_token": token, "phrase": "email"}, "/owner/queues/system/purge"),
        ({"confirmation_token": token, "phrase": "system"}, "/owner/queues/system/obliterate"),
        ({"confirmation_token": "made-up", "phrase": "system"}, "/owner/queues/system/purge"),
    ]:
        refused = owner.post(path, json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["title"] == "confirmation required"
    assert owner.get("/owner/queues/system").json()["backlog"] == 3
    # Another owner cannot use this token either
    second = {"email": "second@example.com", "role": "owner", "password": "second owner password"}
    assert owner.post("/owner/users", json=second).status_code == 201
    other = api.anonymous()
    csrf = other.post("/auth/login", json={"email": second["email"], "password": second["password"]}).json()
    stolen = other.post(
        "/owner/queues/system/purge",
        json={"confirmation_token": token, "phrase": "system"},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert stolen.status_code == 409 and "another user" in stolen.json()["detail"]
    # With both, it runs once
    done = owner.post("/owner/queues/system/purge", json={"confirmation_token": token, "phrase": "system"})
    assert done.json()["status"] == "done" and done.json()["count"] == 3
    assert owner.get("/owner/queues/system").json()["backlog"] == 0
    replay = owner.post("/owner/queues/system/purge", json={"confirmation_token": token, "phrase": "system"})
    assert replay.status_code == 409


def test_enqueue_validates_against_the_contract(live_api) -> None:
    api = live_api()
    owner = api.owner()
    ok = owner.post("/owner/jobs", json={"name": "search.remove", "payload": {"docType": "page", "docId": "7"}})
    assert ok.status_code == 201 and ok.json()["queue"] == "system"
    bad = owner.post("/owner/jobs", json={"name": "email.send", "payload": {"to": [], "subject": "x", "text": "y"}})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["to"]
    unknown = owner.post("/owner/jobs", json={"name": "no.such", "payload": {}})
    assert unknown.status_code == 404
    extra = owner.post("/owner/jobs", json={"name": "search.remove", "payload": {}, "surprise": 1})
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "surprise"


def test_enqueue_through_the_api_publishes_a_queued_event(live_api, valkey_url) -> None:
    from redis.asyncio import Redis

    from corral.realtime import EventBus

    api = live_api()
    job_id = (
        api.owner()
        .post("/owner/jobs", json={"name": "search.remove", "payload": {"docType": "page", "docId": "q"}})
        .json()["id"]
    )

    async def queued_event_published() -> bool:
        redis = Redis.from_url(valkey_url, decode_responses=True)
        try:
            events = await EventBus(redis, prefixed_keys()).latest()
        finally:
            await redis.aclose()
        return any(e.type == "job.queued" and e.job_id == job_id and e.queue == "system" for e in events)

    # Events are published in batches off the request path, so the event may land just after the reply.
    asyncio.run(eventually(queued_event_published))


def test_the_purge_preview_says_which_workflow_runs_wait_on_the_jobs_it_removes(
    live_api, settings, valkey_url, processes
) -> None:
    # Given a real workflows worker that has started three runs, each waiting on two steps queued on `ai`
    api = live_api()
    owner = api.owner()
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env |= {"CORRAL_REDIS_URL": valkey_url, "CORRAL_DATA_DIR": str(settings.data_dir)}
    env["CORRAL_KEY_PREFIX"] = settings.key_prefix
    worker = processes.spawn([sys.executable, "-m", "corral", "worker", "--queue", "workflows"], env=env)
    step = {"action": "ai.seo.analyze", "params": {"articleId": "a1", "title": "Title", "body": "Some body text"}}
    for run in range(3):
        run_job = {"workflowId": "seo", "runId": f"run-{run}", "steps": [{"id": "a", **step}, {"id": "b", **step}]}
        assert owner.post("/owner/jobs", json={"name": "workflow.run", "payload": run_job}).status_code == 201
    asyncio.run(eventually(lambda: _backlog(owner, "ai", 6)))
    # When the owner asks to purge `ai`, and another queue without flows
    preview = owner.post("/owner/queues/ai/purge", json={}).json()
    plain = owner.post("/owner/queues/email/purge", json={}).json()
    # Then the preview says that the six steps are what three workflow runs wait for
    assert preview["count"] == 6 and preview["children"] == 6
    assert preview["parents"] == {"workflow.run": 3}
    assert plain["children"] == 0 and plain["parents"] == {}
    # When the purge is confirmed, those three runs end (they fail: their steps are gone)
    done = owner.post(
        "/owner/queues/ai/purge", json={"confirmation_token": preview["confirmation_token"], "phrase": "ai"}
    )
    assert done.json()["count"] == 6 and done.json()["parents"] == {"workflow.run": 3}
    asyncio.run(eventually(lambda: _failed(owner, "workflows", 3)))
    processes.stop(worker)


async def _backlog(owner, queue: str, count: int) -> bool:
    return owner.get(f"/owner/queues/{queue}").json()["backlog"] == count


async def _failed(owner, queue: str, count: int) -> bool:
    return owner.get(f"/owner/queues/{queue}").json()["counts"]["failed"] == count


def test_delayed_jobs_show_when_they_are_due(live_api, valkey_url) -> None:
    # Given a job delayed by an hour
    api = live_api()
    before = int(time.time() * 1000)
    [job_id] = enqueue(
        valkey_url, ("search.remove", {"docType": "page", "docId": "later"}, EnqueueOptions(delay_ms=3_600_000))
    )
    owner = api.owner()
    # When the delayed jobs are listed, and the job is read
    [item] = owner.get("/owner/queues/system/jobs", params={"state": "delayed"}).json()["items"]
    detail = owner.get(f"/owner/queues/system/jobs/{job_id}").json()
    # Then each carries its due time, an hour from its creation, which the timeline shows too
    assert item["id"] == job_id and before + 3_600_000 <= item["due_at"] <= int(time.time() * 1000) + 3_600_000
    assert detail["due_at"] == item["due_at"]
    assert {"at": item["due_at"], "event": "due"} in detail["timeline"]
    # And jobs that are not delayed have none
    enqueue(valkey_url, remove_doc("now"))
    [waiting] = owner.get("/owner/queues/system/jobs", params={"state": "waiting"}).json()["items"]
    assert waiting["due_at"] is None


def test_a_job_shows_the_trace_of_its_enqueuer(live_api, spans, valkey_url) -> None:
    # Given an email enqueued inside a span, and one outside any trace
    api = live_api()
    owner = api.owner()
    email = {"to": ["a@example.com"], "subject": "Hi", "text": "Hello"}
    with trace.get_tracer("test").start_as_current_span("newsletter") as span:
        [traced] = enqueue(valkey_url, ("email.send", email, None))
    [plain] = enqueue(valkey_url, ("email.send", email, None))
    # When the jobs are read, then the traced one names its trace id (to look it up in the tracing back-end)
    job = owner.get(f"/owner/queues/email/jobs/{traced}").json()
    assert job["trace_id"] == f"{span.get_span_context().trace_id:032x}" and job["linked_trace_id"] is None
    assert owner.get(f"/owner/queues/email/jobs/{plain}").json()["trace_id"] is None
