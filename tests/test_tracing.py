"""Traces across jobs on a real Valkey and a real worker runtime, recorded by the OpenTelemetry SDK's in-memory
exporter: the enqueuer's context travels in the job's options, each attempt is a span continuing it, a replay links
to the original trace; without `opentelemetry` nothing changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from corral.api.dlq import EntryPublic
from corral.api.queues import JobPublic
from corral.dlq.service import DlqService
from corral.dlq.store import DeadLetterStore
from corral.engine import TRACE_LINK_OPTION, TRACE_OPTION
from corral.handlers import HandlerSet, JobContext
from corral.producer import BulkItem

from support import Echo, eventually, make_registry
from tracing_support import spans

__all__ = ["spans"]


def handlers(seen: dict[str, Any] | None = None) -> HandlerSet:
    found = HandlerSet()

    @found.handles("test.echo")
    async def echo(ctx: JobContext, payload: Echo) -> dict[str, Any]:
        if seen is not None:
            seen[ctx.job_id] = trace.get_current_span().get_span_context()
        if payload.behaviour == "fail":
            raise RuntimeError(f"provider refused value {payload.value}")
        if payload.behaviour == "fail-twice" and ctx.attempt <= 2:
            raise RuntimeError("transient")
        return {"value": payload.value}

    return found


def attempts_of(exporter: InMemorySpanExporter, job_id: str) -> list[ReadableSpan]:
    found = [s for s in exporter.get_finished_spans() if (s.attributes or {}).get("corral.job.id") == job_id]
    return sorted(found, key=lambda s: (s.attributes or {})["corral.job.attempt"])


async def test_a_job_enqueued_in_a_span_runs_in_a_child_span_with_its_attributes(
    spans, start_runtime, make_producer, engine
) -> None:
    # Given a worker runtime, and code that enqueues a job inside its own span
    registry = make_registry()
    seen: dict[str, Any] = {}
    await start_runtime(registry, handlers(seen))
    producer = make_producer(registry)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("checkout") as parent:
        job_id = await producer.enqueue("test.echo", {"value": 7})
        bulk_ids = await producer.enqueue_bulk([BulkItem("test.echo", {"value": n}) for n in range(2)])
    context = parent.get_span_context()
    # Then the job's options carry the W3C trace context, and its payload is untouched
    job = await engine.get_job("work", job_id)
    assert job is not None and job.data == {"value": 7, "behaviour": "ok", "sleep_seconds": 0.0}
    carrier = json.loads(job.opts[TRACE_OPTION])
    assert carrier["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    # When the worker has run it, then one span of its attempt is a child of the enqueuing span
    [span] = await eventually(lambda: _finished(spans, job_id))
    assert span.name == "test.echo" and span.kind == trace.SpanKind.CONSUMER
    assert span.parent is not None and span.parent.span_id == context.span_id
    assert span.context.trace_id == context.trace_id
    assert dict(span.attributes or {}) == {
        "corral.job.name": "test.echo",
        "corral.queue": "work",
        "corral.job.id": job_id,
        "corral.job.attempt": 1,
        "corral.job.outcome": "completed",
    }
    assert span.status.status_code == StatusCode.OK
    # And the handler ran inside that span (its own spans and the jobs it enqueues join the trace)
    assert seen[job_id] == span.context
    # And the jobs of the bulk enqueue continue the same trace
    for bulk_id in bulk_ids:
        [bulk_span] = await eventually(lambda bulk_id=bulk_id: _finished(spans, bulk_id))
        assert bulk_span.context.trace_id == context.trace_id and bulk_span.parent.span_id == context.span_id


async def test_each_attempt_is_a_span_with_its_outcome_and_error(spans, start_runtime, make_producer) -> None:
    # Given a job that fails twice before it succeeds
    registry = make_registry(attempts=3, backoff_ms=10)
    await start_runtime(registry, handlers())
    with trace.get_tracer("test").start_as_current_span("signup") as parent:
        job_id = await make_producer(registry).enqueue("test.echo", {"value": 1, "behaviour": "fail-twice"})
    # When it has run three times
    found = await eventually(lambda: _finished(spans, job_id, 3))
    # Then there are three spans, all children of the enqueuing span, attempts 1 to 3
    assert [(s.attributes or {})["corral.job.attempt"] for s in found] == [1, 2, 3]
    assert {s.parent.span_id for s in found} == {parent.get_span_context().span_id}
    # And the failed ones carry the outcome, the error and the exception; the last one completed
    outcomes = [(s.attributes or {})["corral.job.outcome"] for s in found]
    assert outcomes == ["failed", "failed", "completed"]
    for failed in found[:2]:
        assert failed.attributes["corral.job.error"] == "RuntimeError: transient"
        assert failed.status.status_code == StatusCode.ERROR and failed.status.description == "transient"
        assert [event.name for event in failed.events] == ["exception"]


async def test_a_replay_starts_from_the_replaying_code_and_links_to_the_original_trace(
    spans, start_runtime, make_producer, redis_client, keys, engine
) -> None:
    # Given a job enqueued in a span that died into the DLQ
    registry = make_registry(attempts=1)
    await start_runtime(registry, handlers())
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("nightly-import") as original:
        job_id = await make_producer(registry).enqueue("test.echo", {"value": 3, "behaviour": "fail"})
    store = DeadLetterStore(redis_client, keys, registry)
    [entry] = await eventually(lambda: store.recent())
    assert entry.job_id == job_id
    [died] = attempts_of(spans, job_id)
    assert died.attributes["corral.job.outcome"] == "failed" and not died.links
    # When an operator replays it (with a payload that now succeeds) inside another span
    service = DlqService(redis_client, keys, engine, registry)
    try:
        with tracer.start_as_current_span("operator-replay") as replaying:
            result = await service.replay(entry.id, "ops@example.com", {"value": 3})
    finally:
        await service.close()
    # Then the replayed job carries the replaying context and the original one
    replayed_job = await engine.get_job("work", result.job_id)
    assert replayed_job is not None
    assert json.loads(replayed_job.opts[TRACE_LINK_OPTION]) == json.loads(entry.opts[TRACE_OPTION])
    # And its attempt's span is a child of the replaying span, with a link to the original job's trace
    [span] = await eventually(lambda: _finished(spans, result.job_id))
    assert span.parent is not None and span.parent.span_id == replaying.get_span_context().span_id
    assert span.context.trace_id == replaying.get_span_context().trace_id != original.get_span_context().trace_id
    [link] = span.links
    assert (link.context.trace_id, link.context.span_id) == (
        original.get_span_context().trace_id,
        original.get_span_context().span_id,
    )
    assert dict(link.attributes or {}) == {"corral.link": "replay-of"}
    assert span.attributes["corral.job.outcome"] == "completed"
    # And the API shows the entry's trace id, and the replayed job's original trace id
    original_id = f"{original.get_span_context().trace_id:032x}"
    assert EntryPublic.of(entry).trace_id == original_id
    shown = JobPublic.of(replayed_job)
    assert shown.linked_trace_id == original_id and shown.trace_id == f"{replaying.get_span_context().trace_id:032x}"


async def test_a_job_enqueued_outside_any_trace_carries_none(spans, start_runtime, make_producer, engine) -> None:
    # Given no active span, when a job is enqueued and run
    registry = make_registry()
    await start_runtime(registry, handlers())
    job_id = await make_producer(registry).enqueue("test.echo", {"value": 2})
    # Then its options have no trace context, and its attempt is the root of a new trace
    job = await engine.get_job("work", job_id)
    assert job is not None and TRACE_OPTION not in job.opts and TRACE_LINK_OPTION not in job.opts
    [span] = await eventually(lambda: _finished(spans, job_id))
    assert span.parent is None


async def _finished(exporter: InMemorySpanExporter, job_id: str, count: int = 1) -> list[ReadableSpan] | None:
    found = attempts_of(exporter, job_id)
    return found if len(found) >= count else None


WITHOUT_OPENTELEMETRY = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Refuse())

    from corral import tracing
    from corral.dlq.store import DeadLetterStore
    from corral.engine import Engine, TRACE_OPTION
    from corral.keys import Keys
    from corral.runtime import Runtime
    from corral.settings import Settings
    from corral.handlers import HandlerSet
    from support import make_registry

    handlers = HandlerSet()

    @handlers.handles("test.echo")
    async def echo(ctx, payload):
        return {"value": payload.value}

    async def main(url):
        assert not tracing.available() and "opentelemetry" not in sys.modules
        settings = Settings(redis_url=url)
        registry = make_registry()
        engine = Engine(url, Keys(settings.key_prefix))
        runtime = Runtime(settings, url, registry, handlers, dlq=DeadLetterStore)
        from corral.producer import Producer
        try:
            await runtime.start()
            job_id = await Producer(engine, registry).enqueue("test.echo", {"value": 5})
            for _ in range(600):
                job = await engine.get_job("work", job_id)
                if job is not None and job.state == "completed":
                    break
                await asyncio.sleep(0.1)
            assert job.state == "completed" and job.return_value == {"value": 5}, job
            assert TRACE_OPTION not in job.opts
            print("ok")
        finally:
            await runtime.close(grace_seconds=2)
            await engine.close()

    asyncio.run(main(sys.argv[1]))
    """
)


def test_without_opentelemetry_jobs_run_as_before(valkey_url, tmp_path) -> None:
    # Given a process in which `opentelemetry` cannot be imported
    tests = os.path.dirname(__file__)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update(
        {
            "CORRAL_KEY_PREFIX": os.environ["CORRAL_KEY_PREFIX"],
            "CORRAL_DATA_DIR": str(tmp_path),
            "PYTHONPATH": tests,
        }
    )
    # When it enqueues and runs a job, then the job completes and carries no trace context
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY, valkey_url], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
