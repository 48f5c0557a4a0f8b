"""The live dashboard in a real browser: health, queues, throughput and the WebSocket event feed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import WebSocketRoute

from console.console_data import email, enqueue
from console.console_peers import ObservedWorker
from corral.handlers import JobContext

pytestmark = pytest.mark.browser


async def _deliver(context: JobContext, payload: Any) -> dict[str, str]:
    return {"delivered": payload.to[0]}


@pytest.fixture
def worker(background, settings, valkey_url) -> Iterator[ObservedWorker]:
    made = ObservedWorker(background, settings, valkey_url, ["email"], {"email.send": _deliver}).start()
    yield made
    made.stop()


def test_the_feed_shows_a_new_job_within_a_second_and_resumes_after_a_dropped_connection(console, worker) -> None:
    # Given the live page, with its WebSocket passing through a route the test can cut
    page = console.page
    sockets: list[WebSocketRoute] = []
    urls: list[str] = []

    def through(route: WebSocketRoute) -> None:
        urls.append(route.url)
        route.connect_to_server()
        sockets.append(route)

    page.route_web_socket("**/owner/realtime*", through)
    console.goto("/console/live")
    page.locator('#connection[data-state="open"]').wait_for()
    owner = console.api.owner()
    # When a job is enqueued
    job_id = enqueue(owner, "email.send", email("live@example.com"))
    enqueued = time.monotonic()
    # Then an event of that job is in the feed within 1 s
    page.locator(f'#feed li[data-job="{job_id}"]').first.wait_for(timeout=1_000)
    assert time.monotonic() - enqueued < 1.0
    page.locator(f'#feed li[data-job="{job_id}"][data-type="job.completed"]').wait_for(timeout=5_000)
    # When the connection drops and a job runs while the page is disconnected
    sockets[-1].close(code=1012, reason="test cut")
    missed = enqueue(owner, "email.send", email("missed@example.com"))
    # Then the page reconnects from the last event it saw and shows what it missed
    page.locator(f'#feed li[data-job="{missed}"][data-type="job.completed"]').wait_for(timeout=10_000)
    assert len(urls) >= 2 and "last_id=" in urls[-1]
    assert page.locator(f'#feed li[data-job="{job_id}"][data-type="job.completed"]').count() == 1
    page.locator('#connection[data-state="open"]').wait_for()
    console.assert_clean()


def test_pause_holds_events_and_the_severity_filter_hides_lower_ones(console, worker) -> None:
    # Given the live page with the feed paused
    page = console.goto("/console/live")
    page.locator('#connection[data-state="open"]').wait_for()
    owner = console.api.owner()
    page.click("#pause-feed")
    # When a job runs
    held = enqueue(owner, "email.send", email("held@example.com"))
    # Then its events are held, not shown
    page.locator("#feed-info", has_text="held").wait_for()
    page.wait_for_timeout(300)
    assert page.locator(f'#feed li[data-job="{held}"]').count() == 0
    # When the feed is resumed, they appear
    page.click("#pause-feed")
    page.locator(f'#feed li[data-job="{held}"]').first.wait_for()
    # When only errors are wanted, info events are hidden and new ones not sent
    page.select_option("#severity", "error")
    assert page.locator(f'#feed li[data-job="{held}"]').first.is_hidden()
    quiet = enqueue(owner, "email.send", email("quiet@example.com"))
    page.wait_for_timeout(800)
    assert page.locator(f'#feed li[data-job="{quiet}"]').count() == 0
    # And the health cards, queue overview and throughput chart are drawn
    assert page.locator('#health .health-card[data-queue="email"]').count() == 1
    assert page.locator("#overview tbody tr").count() == 6
    assert page.locator("#throughput svg").count() == 1
    console.assert_clean()
