"""The workflow worker on a real Valkey: runs as BullMQ parent/child flows, built-in steps, run state."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from corral.dlq.store import DeadLetterStore
from corral.engine import Engine, JobRecord
from corral.errors import EnqueueError, PayloadValidationError, UnrecoverableJobError
from corral.handlers import HandlerSet, JobContext
from corral.producer import Producer
from corral.runtime import Runtime
from corral.worker_services import WorkerServices
from corral_reference.contracts import AiContentSummarize, SearchIndex, default_registry
from corral_reference.workers.workflow import register
from corral_reference.workflows import RunStatus, RunStore, StepStatus, get_run, submit_run, waves
from corral_reference.workflows.actions import compare
from corral_reference.workflows.templates import TemplateError, render

from support import eventually

QUEUES = ["workflows", "system", "ai"]


@dataclass
class Recorder:
    """Test handlers for catalogue job types used as step actions; they record when each document ran."""

    starts: dict[str, float] = field(default_factory=dict)
    ends: dict[str, float] = field(default_factory=dict)
    sleeps: dict[str, float] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def handlers(self) -> HandlerSet:
        handlers = HandlerSet()

        @handlers.handles("search.index")
        async def index(ctx: JobContext, payload: SearchIndex) -> dict[str, Any]:
            self.starts[payload.docId] = time.monotonic()
            await asyncio.sleep(self.sleeps.get(payload.docId, 0.0))
            if payload.docId in self.gates:
                await self.gates[payload.docId].wait()
            self.ends[payload.docId] = time.monotonic()
            if payload.docId in self.failures:
                raise UnrecoverableJobError(self.failures[payload.docId])
            return {"docId": payload.docId, "words": len(payload.body.split()), "body": payload.body}

        @handlers.handles("ai.content.summarize")
        async def summarize(ctx: JobContext, payload: AiContentSummarize) -> dict[str, Any]:
            self.starts[payload.articleId] = time.monotonic()
            await asyncio.sleep(self.sleeps.get(payload.articleId, 0.0))
            self.ends[payload.articleId] = time.monotonic()
            sentences = [s.strip() for s in payload.text.split(".") if s.strip()][: payload.maxSentences]
            return {"summary": ". ".join(sentences), "sentences": len(sentences)}

        return handlers


StartWorkflows = Callable[..., Awaitable[Producer]]


@pytest.fixture
async def start_workflows(settings, valkey_url, redis_client, engine, keys) -> AsyncIterator[StartWorkflows]:
    """Factory: a runtime on the workflows, system and ai queues with the workflow worker plus test handlers."""
    started: list[tuple[Runtime, WorkerServices]] = []

    async def start(recorder: Recorder, *, allow_private: bool = True) -> Producer:
        registry = default_registry()
        producer = Producer(engine, registry)
        worker_settings = settings.model_copy(update={"webhook_allow_private": allow_private})
        services = WorkerServices(worker_settings, redis_client, producer, keys)
        handlers = recorder.handlers()
        register(handlers, services)
        runtime = Runtime(worker_settings, valkey_url, registry, handlers, queues=QUEUES, dlq=DeadLetterStore)
        started.append((runtime, services))
        await runtime.start()
        return producer

    yield start
    for runtime, services in started:
        await runtime.close(grace_seconds=2)
        await services.close()


@pytest.fixture
def http_peer() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback HTTP server: GET /stats answers {"count": 5}, POST /notify records its JSON body, else 404."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/stats":
                self._answer(200, {"count": 5, "source": "peer"})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/notify":
                received.append({"json": json.loads(body), "token": self.headers.get("x-token")})
                self._answer(201, {"ok": True})
            else:
                self._answer(404, {"error": "not found"})

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def finished(engine: Engine, job_id: str) -> JobRecord:
    async def check() -> JobRecord | None:
        job = await engine.get_job("workflows", job_id)
        return job if job is not None and job.state in ("completed", "failed") else None

    record: JobRecord = await eventually(check, timeout=60)
    return record


def index_step(step_id: str, body: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": step_id,
        "action": "search.index",
        "params": {"docType": "article", "docId": step_id, "title": f"Doc {step_id}", "body": body},
        "dependsOn": depends_on or [],
    }


async def test_diamond_runs_in_dependency_order_and_feeds_results(start_workflows, engine, redis_client, keys) -> None:
    # Given a diamond a -> (b, c) -> d across two queues, where b and c take different times
    recorder = Recorder(sleeps={"b": 0.3, "c": 0.15})
    producer = await start_workflows(recorder)
    steps = [
        index_step("a", "one two three four"),
        index_step("b", "b saw {{steps.a.result.words}} words", ["a"]),
        {
            "id": "c",
            "action": "ai.content.summarize",
            "params": {"articleId": "c", "text": "First. Second. Third. Fourth.", "maxSentences": "{{input.n}}"},
            "dependsOn": ["a"],
        },
        index_step("d", "{{steps.b.result.body}} | {{steps.c.result.summary}}", ["b", "c"]),
    ]
    # When the run is submitted
    job_id = await submit_run(
        producer, RunStore(redis_client, keys), {"workflowId": "wf", "runId": "r1", "input": {"n": 2}, "steps": steps}
    )
    job = await finished(engine, job_id)
    # Then every step ran after its dependencies, and b and c overlapped
    assert job.state == "completed", job.failed_reason
    s, e = recorder.starts, recorder.ends
    assert e["a"] <= s["b"] and e["a"] <= s["c"]
    assert s["d"] >= e["b"] and s["d"] >= e["c"]
    assert s["c"] < e["b"] and s["b"] < e["c"]
    # And d saw b's and c's results, typed templates included
    assert job.return_value["steps"]["d"]["result"]["body"] == "b saw 4 words | First. Second"
    assert job.return_value["steps"]["c"]["result"]["sentences"] == 2
    assert job.return_value["status"] == "succeeded"
    # And the stored run has every step's status, job and timings
    run = await get_run(redis_client, keys, "r1")
    assert run is not None and run.status is RunStatus.SUCCEEDED
    assert [step.id for step in run.steps.values()] == ["a", "b", "c", "d"]
    for step in run.steps.values():
        assert step.status is StepStatus.SUCCEEDED and step.job_id and step.attempts == 1
        assert step.queued_at and step.started_at and step.finished_at and step.started_at <= step.finished_at
    assert run.steps["c"].queue == "ai" and run.steps["d"].queue == "system"
    assert run.steps["d"].started_at >= max(run.steps["b"].finished_at or 0, run.steps["c"].finished_at or 0)


async def test_failing_step_fails_the_run_naming_it(start_workflows, engine, redis_client, keys) -> None:
    # Given a run where b fails while its sibling x is still running, and c depends on b
    recorder = Recorder(sleeps={"x": 0.3}, failures={"b": "index is read-only"})
    producer = await start_workflows(recorder)
    steps = [index_step("a", "go"), index_step("b", "go", ["a"]), index_step("x", "go", ["a"])]
    steps.append(index_step("c", "go", ["b"]))
    # When it runs
    job_id = await producer.enqueue("workflow.run", {"workflowId": "wf", "runId": "r-fail", "steps": steps})
    job = await finished(engine, job_id)
    # Then the run job failed once, unrecoverably, naming the failed step and its reason
    assert job.state == "failed" and job.attempts_made == 1
    assert job.failed_reason == "step 'b' (search.index) failed: index is read-only"
    # And the sibling in flight finished and was recorded, the dependant never ran
    run = await get_run(redis_client, keys, "r-fail")
    assert run is not None and run.status is RunStatus.FAILED and run.error == job.failed_reason
    statuses = {step.id: step.status for step in run.steps.values()}
    assert statuses == {
        "a": StepStatus.SUCCEEDED,
        "b": StepStatus.FAILED,
        "x": StepStatus.SUCCEEDED,
        "c": StepStatus.SKIPPED,
    }
    assert run.steps["b"].error == "index is read-only"
    assert "c" not in recorder.starts


async def test_invalid_step_fails_the_run_before_any_step_runs(start_workflows, engine, redis_client, keys) -> None:
    # Given a run whose third step lacks a required field of its job type, enqueued without pre-checks
    recorder = Recorder()
    producer = await start_workflows(recorder)
    bad = {"id": "bad", "action": "search.index", "params": {"docType": "article", "docId": "x", "body": "no title"}}
    steps = [index_step("a", "go"), index_step("b", "go", ["a"]), bad]
    # When it runs
    job_id = await producer.enqueue("workflow.run", {"workflowId": "wf", "runId": "r-bad", "steps": steps})
    job = await finished(engine, job_id)
    # Then it fails at once with a reason naming the step and the field, and no step ran
    assert job.state == "failed" and job.attempts_made == 1
    assert job.failed_reason is not None
    assert "step 'bad' (search.index): invalid params: title: Field required" in job.failed_reason
    assert recorder.starts == {}
    assert (await engine.counts("system"))["waiting"] == 0
    run = await get_run(redis_client, keys, "r-bad")
    assert run is not None and run.status is RunStatus.FAILED
    assert {step.status for step in run.steps.values()} == {StepStatus.SKIPPED}
    # And submit_run refuses the same run before enqueueing anything
    with pytest.raises(PayloadValidationError, match="steps.2: step 'bad'"):
        await submit_run(producer, RunStore(redis_client, keys), {"workflowId": "wf", "runId": "r-2", "steps": steps})
    assert await get_run(redis_client, keys, "r-2") is None


async def test_enqueue_rejects_cycles_unknown_actions_and_foreign_references(engine, redis_client, keys) -> None:
    # Given a catalogue producer and the run store
    producer = Producer(engine, default_registry())
    store = RunStore(redis_client, keys)
    cycle = [index_step("a", "x", ["b"]), index_step("b", "x", ["a"])]
    unknown = [{"id": "a", "action": "teleport", "params": {}}]
    foreign = [index_step("a", "x"), index_step("b", "x"), index_step("c", "{{steps.b.result.words}}", ["a"])]
    # When runs with a cycle, an unknown action, or a template naming a step it does not depend on are submitted
    # Then each is refused with its reason
    with pytest.raises(PayloadValidationError, match="dependency cycle: a -> b -> a"):
        await submit_run(producer, store, {"workflowId": "wf", "runId": "r", "steps": cycle})
    with pytest.raises(PayloadValidationError, match="unknown action"):
        await submit_run(producer, store, {"workflowId": "wf", "runId": "r", "steps": unknown})
    with pytest.raises(PayloadValidationError, match="refers to step 'b', which this step does not depend on"):
        await submit_run(producer, store, {"workflowId": "wf", "runId": "r", "steps": foreign})


async def test_http_condition_and_delay_builtins(start_workflows, engine, http_peer) -> None:
    # Given a loopback HTTP peer and a run: fetch stats, gate on them, wait, then post the count onwards
    base_url, received = http_peer
    producer = await start_workflows(Recorder(), allow_private=True)
    count = "{{steps.fetch.result.body.count}}"
    steps = [
        {"id": "fetch", "action": "http", "params": {"url": f"{base_url}/stats"}},
        {
            "id": "enough",
            "action": "condition",
            "params": {"left": count, "op": ">", "right": 3},
            "dependsOn": ["fetch"],
        },
        {"id": "wait", "action": "delay", "params": {"ms": 150}, "dependsOn": ["enough"]},
        {
            "id": "notify",
            "action": "http",
            "params": {
                "method": "POST",
                "url": f"{base_url}/notify",
                "headers": {"x-token": "t-1"},
                "json": {"count": count, "note": "count was " + count},
                "expectedStatus": 201,
            },
            "dependsOn": ["wait"],
        },
        {"id": "few", "action": "condition", "params": {"left": count, "op": "<", "right": 3}, "dependsOn": ["fetch"]},
        index_step("never", "only when few", ["few"]),
    ]
    # When it runs
    started = time.monotonic()
    job_id = await producer.enqueue("workflow.run", {"workflowId": "wf", "runId": "r-http", "steps": steps})
    job = await finished(engine, job_id)
    # Then the peer got the fetched count with its JSON type, after the delay
    assert job.state == "completed", job.failed_reason
    assert received == [{"json": {"count": 5, "note": "count was 5"}, "token": "t-1"}]
    assert time.monotonic() - started >= 0.15
    results = job.return_value["steps"]
    assert results["fetch"]["result"] == {"status": 200, "body": {"count": 5, "source": "peer"}}
    assert results["enough"]["result"]["passed"] is True
    assert results["wait"]["result"] == {"delayedMs": 150}
    assert results["notify"]["result"] == {"status": 201, "body": {"ok": True}}
    # And the false condition skipped its dependant without failing the run
    assert results["few"] == {"status": "succeeded", "result": {"passed": False, "left": 5, "op": "<", "right": 3}}
    assert results["never"] == {"status": "skipped", "result": None}


async def test_http_step_answering_404_fails_the_run_at_once(start_workflows, engine, http_peer) -> None:
    # Given a run whose http step calls a path the peer does not know
    base_url, _ = http_peer
    producer = await start_workflows(Recorder(), allow_private=True)
    steps = [{"id": "fetch", "action": "http", "params": {"url": f"{base_url}/missing"}}]
    # When it runs
    job_id = await producer.enqueue("workflow.run", {"workflowId": "wf", "runId": "r-404", "steps": steps})
    job = await finished(engine, job_id)
    # Then the step failed without retries and the run names it
    assert job.state == "failed"
    assert job.failed_reason == f"step 'fetch' (http) failed: GET {base_url}/missing answered 404"


async def test_http_step_refuses_loopback_unless_allowed(start_workflows, engine, http_peer) -> None:
    # Given the default settings, which refuse private and loopback addresses
    base_url, _ = http_peer
    producer = await start_workflows(Recorder(), allow_private=False)
    steps = [{"id": "fetch", "action": "http", "params": {"url": f"{base_url}/stats"}}]
    # When a run calls the loopback peer
    job_id = await producer.enqueue("workflow.run", {"workflowId": "wf", "runId": "r-private", "steps": steps})
    job = await finished(engine, job_id)
    # Then the step is refused before any request
    assert job.state == "failed" and job.failed_reason is not None
    assert "'127.0.0.1' resolves to the non-public address 127.0.0.1" in job.failed_reason


async def test_condition_with_on_false_fail_fails_the_run(start_workflows, engine) -> None:
    # Given a condition that is false and must fail the run when false
    producer = await start_workflows(Recorder())
    params = {"left": "{{input.plan}}", "op": "in", "right": ["pro", "team"], "onFalse": "fail"}
    steps = [{"id": "paid", "action": "condition", "params": params}]
    # When it runs
    payload = {"workflowId": "wf", "runId": "r-cond", "input": {"plan": "free"}, "steps": steps}
    job = await finished(engine, await producer.enqueue("workflow.run", payload))
    # Then the run fails naming the condition
    assert job.failed_reason == "step 'paid' (condition) failed: condition is false: 'free' in ['pro', 'team']"


async def test_run_status_is_queryable_while_running_and_after(start_workflows, engine, redis_client, keys) -> None:
    # Given a submitted run, before any worker runs
    recorder = Recorder(gates={"slow": asyncio.Event()})
    registry_producer = Producer(engine, default_registry())
    store = RunStore(redis_client, keys)
    steps = [index_step("quick", "q"), index_step("slow", "s", ["quick"]), index_step("last", "l", ["slow"])]
    job_id = await submit_run(registry_producer, store, {"workflowId": "wf", "runId": "r-live", "steps": steps})
    queued = await get_run(redis_client, keys, "r-live")
    assert queued is not None and queued.status is RunStatus.QUEUED
    assert {step.status for step in queued.steps.values()} == {StepStatus.PENDING}
    # When workers start and the slow step is held
    await start_workflows(recorder)

    async def slow_is_queued() -> bool:
        run = await get_run(redis_client, keys, "r-live")
        return run is not None and run.steps["slow"].status is StepStatus.QUEUED

    await eventually(slow_is_queued)
    await eventually(lambda: _returns("slow" in recorder.starts))
    # Then the run shows as running with the finished step's result and the held one queued
    running = await get_run(redis_client, keys, "r-live")
    assert running is not None and running.status is RunStatus.RUNNING and running.job_id == job_id
    assert running.steps["quick"].status is StepStatus.SUCCEEDED
    assert running.steps["quick"].result == {"docId": "quick", "words": 1, "body": "q"}
    assert running.steps["last"].status is StepStatus.PENDING
    assert running.as_dict()["steps"][1]["status"] == "queued"
    # And, once released, the run succeeds with timings, and a second run under the same id is refused
    recorder.gates["slow"].set()
    await finished(engine, job_id)
    done = await get_run(redis_client, keys, "r-live")
    assert done is not None and done.status is RunStatus.SUCCEEDED and done.error is None
    assert done.created_at and done.started_at and done.finished_at
    assert done.created_at <= done.started_at <= done.finished_at
    with pytest.raises(EnqueueError, match="already used by a run that is succeeded"):
        await submit_run(registry_producer, store, {"workflowId": "wf", "runId": "r-live", "steps": steps})


async def _returns(value: bool) -> bool:
    return value


def test_waves_order_a_diamond() -> None:
    # Given a diamond declared out of order
    from corral_reference.contracts import WorkflowRun

    run = WorkflowRun.model_validate(
        {
            "workflowId": "wf",
            "runId": "r",
            "steps": [
                {"id": "d", "action": "delay", "dependsOn": ["b", "c"]},
                {"id": "b", "action": "delay", "dependsOn": ["a"]},
                {"id": "a", "action": "delay"},
                {"id": "c", "action": "delay", "dependsOn": ["a"]},
            ],
        }
    )
    # When it is split into waves / Then each wave depends only on earlier ones
    assert waves(run.steps) == [["a"], ["b", "c"], ["d"]]


def test_templates_keep_types_whole_and_text_inside_strings() -> None:
    # Given results of earlier steps and a run input
    results = {"a.b": {"items": [{"n": 3}], "ok": True}}
    # When params are rendered / Then whole templates keep their JSON type, embedded ones become text
    params = {"n": "{{steps.a.b.result.items.0.n}}", "s": "n={{steps.a.b.result.items.0.n}}", "i": "{{input}}"}
    assert render(params, results, {"k": 1}) == {"n": 3, "s": "n=3", "i": {"k": 1}}
    assert render(["{{steps.a.b.result.ok}}"], results, {}) == [True]
    # And a missing path names what is missing
    with pytest.raises(TemplateError, match="nothing at 'nope'"):
        render("{{steps.a.b.result.nope}}", results, {})


def test_condition_comparisons_refuse_mismatched_operands() -> None:
    # Given JSON operands / When compared / Then order needs like types and membership needs a container
    assert compare(5, ">", 3) and compare("b", ">=", "a") and not compare(1, "==", "1")
    assert compare("x", "in", ["x", "y"]) and compare({"k": 1}, "contains", "k") and compare("abc", "not contains", "d")
    with pytest.raises(ValueError, match="cannot order"):
        compare(5, ">", "3")
    with pytest.raises(ValueError, match="cannot order"):
        compare(True, ">", 0)
    with pytest.raises(ValueError, match="needs a list"):
        compare(1, "in", 5)
