"""Traces across jobs with OpenTelemetry, when `opentelemetry-api` is installed (the `tracing` extra).

The producer writes the W3C trace context (`traceparent`, `tracestate`) of the code that enqueues into the job's
options, never into its payload; the worker runs each attempt in a span that continues it; a DLQ replay starts from
the replaying code's context and links to the original job's trace. Without the package, or with no trace active
when a job is enqueued, nothing is written and no span is made.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ImportError:  # the optional extra is not installed: tracing is off
    trace = None  # type: ignore[assignment]

TRACER_NAME = "corral"
MAX_CARRIER_CHARS = 2_048  # traceparent is 55 characters; tracestate is at most 32 entries of 256
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def available() -> bool:
    """Whether `opentelemetry-api` could be imported."""
    return trace is not None


def current_carrier() -> str | None:
    """The active trace context as JSON text (`{"traceparent": ..., "tracestate": ...}`), or None without one."""
    if trace is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier, separators=(",", ":")) if carrier else None


def _parse(text: Any) -> dict[str, str] | None:
    if not isinstance(text, str) or len(text) > MAX_CARRIER_CHARS:
        return None
    try:
        carrier = json.loads(text)
    except ValueError:
        return None
    if not isinstance(carrier, dict):
        return None
    return {str(key): value for key, value in carrier.items() if isinstance(value, str)}


def trace_id(carrier: str | None) -> str | None:
    """The trace id (32 hex digits) of a stored trace context, to look the trace up; works without OpenTelemetry."""
    found = _TRACEPARENT.match((_parse(carrier) or {}).get("traceparent", ""))
    return found.group(1) if found and found.group(1) != "0" * 32 else None


def _span_context(text: Any) -> Any:
    carrier = _parse(text)
    if carrier is None or trace is None:
        return None
    found = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    return found if found.is_valid else None


@asynccontextmanager
async def attempt_span(
    name: str,
    queue: str,
    job_id: str,
    attempt: int,
    carrier: str | None,
    link: str | None,
    suspended: tuple[type[BaseException], ...] = (),
) -> AsyncIterator[None]:
    """Run one attempt of a job in a span: a child of the enqueuer's context (`carrier`), linked to the original
    job's trace (`link`) for a replay, with the job's name, queue, id, attempt and outcome (`completed`, `failed`,
    `cancelled`, or `waiting-children` for the `suspended` exceptions), and the error."""
    if trace is None or isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield  # no tracer provider is configured: every span would be a no-op, so none is made
        return
    parent = propagate.extract(_parse(carrier) or {}, context=otel_context.Context())
    linked = _span_context(link)
    tracer = trace.get_tracer(TRACER_NAME)
    attributes: dict[str, str | int] = {
        "corral.job.name": name,
        "corral.queue": queue,
        "corral.job.id": job_id,
        "corral.job.attempt": attempt,
    }
    with tracer.start_as_current_span(
        name,
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=[Link(linked, {"corral.link": "replay-of"})] if linked is not None else None,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except suspended:
            span.set_attribute("corral.job.outcome", "waiting-children")
            raise
        except asyncio.CancelledError:
            span.set_attribute("corral.job.outcome", "cancelled")
            raise
        except BaseException as exc:
            span.set_attribute("corral.job.outcome", "failed")
            span.set_attribute("corral.job.error", f"{type(exc).__name__}: {exc}"[:1_000])
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:1_000]))
            raise
        span.set_attribute("corral.job.outcome", "completed")
        span.set_status(Status(StatusCode.OK))


def replay_trace(original_opts: Mapping[str, Any], metadata_key: str) -> tuple[str | None, str | None]:
    """For a replay: the replaying code's trace context, and the original job's one to link to."""
    original = original_opts.get(metadata_key)
    return current_carrier(), original if _parse(original) is not None else None
