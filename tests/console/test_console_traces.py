"""Trace ids in the console's job view, in a real browser."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from playwright.sync_api import expect

from console.console_data import email
from corral.engine import Engine
from corral.producer import Producer
from corral_reference.contracts import default_registry

from support import prefixed_keys
from tracing_support import spans

__all__ = ["spans"]

pytestmark = pytest.mark.browser


def test_the_job_view_shows_the_trace_its_enqueuer_was_in(console, background, valkey_url, spans) -> None:
    # Given an email enqueued inside a span, and one outside any trace
    async def enqueue_both() -> tuple[str, str, str]:
        engine = Engine(valkey_url, prefixed_keys())
        try:
            producer = Producer(engine, default_registry())
            with trace.get_tracer("test").start_as_current_span("newsletter") as span:
                traced = await producer.enqueue("email.send", email("a@example.com"))
            plain = await producer.enqueue("email.send", email("b@example.com"))
            return traced, plain, f"{span.get_span_context().trace_id:032x}"
        finally:
            await engine.close()

    traced, plain, trace_id = background.run(enqueue_both())
    # When the traced job is opened, then its facts name the trace id
    page = console.goto(f"/console/queues/email?job={traced}")
    expect(page.locator("#job-facts dt:text-is('Trace') + dd")).to_have_text(trace_id)
    # And a job outside any trace has no such fact
    page = console.goto(f"/console/queues/email?job={plain}")
    expect(page.locator("#job-facts dt:text-is('State')")).to_be_visible()
    expect(page.locator("#job-facts dt:text-is('Trace')")).to_have_count(0)
    console.assert_clean()
