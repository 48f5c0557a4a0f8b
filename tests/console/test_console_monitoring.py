"""Monitoring in the console, in a real browser: Workers and Alerts pages, processing times and failure reasons on
the queue page, the data-access log, the current rate, due times, readable live events, links and the 404 page."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from playwright.sync_api import expect
from redis.asyncio import Redis

from console.console_data import email, enqueue
from console.console_peers import Console, ObservedWorker, open_console
from corral.errors import UnrecoverableJobError
from corral.handlers import Handler, JobContext
from corral.keys import Keys
from corral.monitoring import MetricsRecorder

pytestmark = pytest.mark.browser

FAST = {
    "metrics_flush_seconds": 0.1,
    "worker_heartbeat_seconds": 0.2,
    "worker_lost_seconds": 2.0,
    "alert_interval_seconds": 0.3,
}


@pytest.fixture
def workers(background, settings, valkey_url) -> Iterator[Callable[..., ObservedWorker]]:
    """Factory: start observed workers; each is stopped after the test."""
    started: list[ObservedWorker] = []

    def start(queues: list[str], handlers: Mapping[str, Handler] | None = None) -> ObservedWorker:
        started.append(ObservedWorker(background, settings, valkey_url, queues, handlers, FAST).start())
        return started[-1]

    yield start
    for worker in started:
        if hasattr(worker, "runtime") and not worker.runtime._stopped.is_set():
            worker.stop()


@pytest.fixture
def fast_console(served, browser) -> Iterator[Console]:
    """A console whose API evaluates alerts every 0.3 s and sees workers lost after 2 s."""
    opened = open_console(served(**FAST), browser)
    yield opened
    opened.context.close()


def wait_until(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Call `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return result


async def _removed(context: JobContext, payload: Any) -> dict[str, str]:
    return {"removed": payload.docId}


async def _deliver_or_refuse(context: JobContext, payload: Any) -> dict[str, str]:
    if payload.subject.startswith("Fail"):
        raise UnrecoverableJobError(f"mailbox {payload.to[0]} does not exist")
    return {"delivered": payload.to[0]}


def test_the_workers_page_lists_each_worker_with_its_jobs_and_heartbeat(fast_console, workers) -> None:
    # Given a worker process on `system` that has removed three documents
    owner = fast_console.api.owner()
    worker = workers(["system"], {"search.remove": _removed})
    for n in range(3):
        enqueue(owner, "search.remove", {"docType": "page", "docId": f"d{n}"})
    wait_until(lambda: [w for w in owner.get("/owner/workers").json() if w["processed"] == 3])
    # When the owner opens the Workers page from the navigation
    page = fast_console.goto("/console")
    page.get_by_role("link", name="Workers").click()
    page.wait_for_url("**/console/workers")
    # Then the worker is listed live with its host, pid, queues, concurrency, processed jobs and a recent heartbeat
    row = page.locator("#workers-table tbody tr").first
    expect(row).to_have_attribute("data-status", "live")
    cells = row.locator("td")
    assert cells.nth(1).inner_text() == str(os.getpid())
    assert cells.nth(3).inner_text() == "system" and cells.nth(3).locator("a").get_attribute("href") == (
        "/console/queues/system"
    )
    assert cells.nth(6).inner_text() == "3" and cells.nth(7).inner_text() == "0"
    assert cells.nth(9).inner_text().endswith("s ago")
    assert "1 live, 0 lost" in page.locator("#workers-summary").inner_text()
    assert page.locator('.topbar a[aria-current="page"]').inner_text() == "Workers"
    # When the worker stops, the page shows that none is left
    worker.stop()
    page.click("#refresh")
    page.locator("#workers-state", has_text="No worker has sent a heartbeat").wait_for()
    fast_console.assert_clean()


def test_the_alerts_page_acknowledges_a_firing_alert_and_shows_the_history(fast_console) -> None:
    # Given an alert firing: an email waits and no worker consumes the queue
    owner = fast_console.api.owner()
    enqueue(owner, "email.send", email("nobody@example.com"))
    [alert] = wait_until(lambda: owner.get("/owner/alerts").json())
    # When the owner opens the Alerts page
    page = fast_console.goto("/console/alerts")
    row = page.locator(f'#firing-table tr[data-alert="{alert["id"]}"]')
    # Then the alert is listed with its queue, rule, summary and a link to the page that helps
    assert row.locator("td").nth(1).inner_text() == "email" and row.locator("td").nth(2).inner_text() == "no_workers"
    assert "no live worker" in row.inner_text()
    assert row.locator("a.advice").get_attribute("href") == "/console/workers"
    assert page.locator('#history-table tr[data-event="fired"]').count() == 1
    assert "no_workers" in page.locator("#rules").inner_text()
    # When it is acknowledged
    row.get_by_role("button", name=f"Acknowledge alert {alert['id']}").click()
    # Then a toast confirms it, the row names who acknowledged it, and the API and the audit log agree
    page.locator(".toast", has_text=f"Alert #{alert['id']} acknowledged").wait_for()
    expect(row.locator("td").nth(6)).to_contain_text("owner@example.com")
    expect(row.get_by_role("button", name=f"Acknowledge alert {alert['id']}")).to_be_disabled()
    assert owner.get("/owner/alerts").json()[0]["acknowledged_by"] == "owner@example.com"
    assert owner.get("/owner/audit", params={"action": "alerts.acknowledge"}).json()["items"]
    # When the issue goes (the queue is paused), the alert resolves and the history shows it
    assert owner.post("/owner/queues/email/pause").status_code == 200
    wait_until(lambda: owner.get("/owner/alerts").json() == [])
    page.click("#refresh")
    page.locator("#firing-state", has_text="No alert is firing").wait_for()
    expect(page.locator('#history-table tr[data-event="resolved"]')).to_have_count(1)
    fast_console.assert_clean()


def test_the_queue_page_shows_processing_times_and_failure_reasons(fast_console, workers) -> None:
    # Given a worker on `email` that delivered five emails and refused three
    owner = fast_console.api.owner()
    workers(["email"], {"email.send": _deliver_or_refuse})
    for n in range(5):
        enqueue(owner, "email.send", email(f"reader{n}@example.com"))
    for n in range(3):
        enqueue(owner, "email.send", email(f"ghost{n}@example.com", subject=f"Fail {n}"))

    def recorded() -> bool:
        metrics = owner.get("/owner/metrics/email", params={"refresh": "true", "points": 60}).json()
        failures = owner.get("/owner/failures", params={"queue": "email", "window": "1h"}).json()
        return metrics["summary"]["processing"]["count"] == 5 and failures["total_failed_attempts"] == 3

    wait_until(recorded)
    # When the owner follows a link to the queue's failure reasons
    page = fast_console.goto("/console/queues/email#failures")
    # Then the processing times of the last hour are summarised and drawn per minute
    summary = page.locator("#processing-summary")
    expect(summary).to_contain_text("Jobs timed")
    assert summary.locator("dd").first.inner_text() == "5"
    assert page.locator("#processing-chart svg.chart").count() == 1
    # ... and the failure reason is listed with its job type and counts
    reason = page.locator("#failures-table tbody tr").first
    assert "does not exist" in reason.locator("td").nth(0).inner_text()
    assert reason.locator("td").nth(1).inner_text() == "email.send"
    assert reason.locator("td").nth(2).inner_text() == "3" and reason.locator("td").nth(3).inner_text() == "3"
    assert "3 failed attempt(s)" in page.locator("#failures-total").inner_text()
    # When the window is changed to seven days, the same reason is shown
    page.select_option("#failures-window", "7d")
    expect(page.locator("#failures-table tbody tr")).to_have_count(1)
    fast_console.assert_clean()


def test_the_queues_card_shows_the_current_rate_and_says_its_window(console, settings, background) -> None:
    # Given 30 jobs completed on `system` in the last minute, in a system that started minutes ago
    async def record() -> None:
        redis = Redis.from_url(console.api.settings.redis_url, decode_responses=True)
        recorder = MetricsRecorder(redis, Keys(settings.key_prefix))
        now = int(time.time() * 1000)
        for _ in range(30):
            recorder.record_completed("system", "search.remove", now, 2_000)
        await recorder.flush()
        await redis.aclose()

    background.run(record())
    # When the owner opens the Queues page
    page = console.goto("/console")
    # Then the throughput card shows the rate of the last 5 minutes (30 / 5), not the hour's average (30 / 60)
    throughput = page.locator('[data-card="throughput"]')
    expect(throughput.locator(".value")).to_have_text("6.0/min")
    assert "last 5 minutes" in throughput.locator(".hint").inner_text()
    assert "30 completed in the last hour" in throughput.locator(".hint").inner_text()
    row = page.locator('tr[data-queue="system"] td.spark')
    assert "6.0/min" in row.inner_text()
    console.assert_clean()


def test_the_delayed_tab_shows_when_each_job_is_due(console) -> None:
    # Given a job delayed by an hour and a half (shown as 1.5 h however long the page takes, up to 54 s; an hour
    # would read "1.0 h" or "60 min" depending on how fast the page rendered)
    owner = console.api.owner()
    job_id = enqueue(owner, "email.send", email("later@example.com"), delay_ms=5_400_000)
    # When the owner opens the queue's delayed jobs
    page = console.goto("/console/queues/email?state=delayed")
    row = page.locator(f'tr[data-job="{job_id}"]')
    # Then a Due column says when it runs
    expect(page.locator("#due-head")).to_be_visible()
    due = row.locator("td.due")
    assert due.inner_text().startswith("in 1.5 h ("), due.inner_text()
    # ... and other states have no such column
    page.click("#tab-waiting")
    expect(page.locator("#due-head")).to_be_hidden()
    console.assert_clean()


def test_the_live_feed_shows_workflow_progress_in_words_and_health_links_to_the_page_that_helps(
    fast_console, workers
) -> None:
    # Given a workflows worker running the application's own handlers, and an email nobody will send
    owner = fast_console.api.owner()
    workers(["workflows"])
    enqueue(owner, "email.send", email("waiting@example.com"))
    # When the owner watches the live feed at debug level and a two-step workflow runs
    page = fast_console.goto("/console/live")
    page.locator('#connection[data-state="open"]').wait_for()
    page.select_option("#severity", "debug")
    steps = [
        {"id": "wait", "action": "delay", "params": {"ms": 10}},
        {"id": "again", "action": "delay", "params": {"ms": 10}, "dependsOn": ["wait"]},
    ]
    run_job = enqueue(owner, "workflow.run", {"workflowId": "demo", "runId": "run-1", "steps": steps})
    # Then the run's progress reaches the feed, its data in words rather than JSON
    progress = page.locator(f'#feed li[data-job="{run_job}"][data-type="job.progress"]').first
    progress.wait_for(timeout=30_000)
    detail = progress.locator(".detail").inner_text()
    assert "progress: runId run-1" in detail and "steps 2" in detail, detail
    assert "{" not in detail and '"' not in detail
    page.locator(f'#feed li[data-job="{run_job}"][data-type="job.completed"]').wait_for(timeout=30_000)
    # ... and the email queue's health card links its recommendation to the Workers page
    page.click("#refresh")
    card = page.locator('#health .health-card[data-queue="email"]')
    expect(card.locator("a.advice")).to_have_attribute("href", "/console/workers")
    assert "GET /owner" not in card.inner_text()
    fast_console.assert_clean()


def test_the_data_access_log_sits_beside_the_audit_log(console) -> None:
    # Given reads of the email queue's jobs
    owner = console.api.owner()
    for state in ("waiting", "failed"):
        assert owner.get("/owner/queues/email/jobs", params={"state": state}).status_code == 200
    # When the owner goes from the audit log to the data-access log
    page = console.goto("/console/audit")
    page.click("#data-access")
    page.wait_for_url("**/console/audit/data-access")
    page.locator("#access-table tbody tr").first.wait_for()
    # Then the reads are listed newest first, with who read what kind of record
    kinds = page.locator("#access-table tbody tr:not(.details) td:nth-child(3)").all_inner_texts()
    assert kinds[:3] == ["audit", "job", "job"], kinds
    assert page.locator("#access-table tbody tr:not(.details) td:nth-child(2)").first.inner_text() == (
        "owner@example.com"
    )
    # When they are filtered by kind, only job reads remain, and a row's details show the filter used
    page.fill('input[name="target_type"]', "job")
    page.click("#filters button[type=submit]")
    expect(page.locator("#access-table tbody tr:not(.details)")).to_have_count(2)
    assert "target_type=job" in page.url
    page.get_by_role("button", name="Details").first.click()
    assert '"state": "failed"' in page.locator("tr.details").first.inner_text()
    assert page.locator('.topbar a[aria-current="page"]').inner_text() == "Audit"
    console.assert_clean()


def test_an_unknown_console_path_is_a_404_page_in_the_console_layout(console, browser) -> None:
    # When a signed-in owner opens a console path that does not exist
    page = console.page
    answer = page.goto(console.url("/console/no-such-page"))
    # Then the answer is an HTML 404 in the console's layout, with its navigation and styles
    assert answer is not None and answer.status == 404 and answer.headers["content-type"].startswith("text/html")
    expect(page.locator("h1")).to_have_text("Not found")
    assert page.locator(".topbar nav a", has_text="Workers").count() == 1
    assert "/console/no-such-page" in page.locator(".error-detail").inner_text()
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") != "inline"
    # ... and so is an unknown queue's page
    assert page.goto(console.url("/console/queues/nope")).status == 404  # type: ignore[union-attr]
    expect(page.locator("h1")).to_have_text("Not found")
    assert page.locator(".topbar").count() == 1
    console.forget_problems()  # the two 404 answers were the point
    # When a browser without a session opens it, it is sent to sign in, to come back afterwards
    anonymous = open_console(console.api, browser, sign_in=False)
    try:
        anonymous.page.goto(console.url("/console/no-such-page"))
        assert "/login?next=%2Fconsole%2Fno-such-page" in anonymous.page.url
    finally:
        anonymous.context.close()
    # And an API client gets problem+json
    answer_json = console.api.owner().get("/console/no-such-page")
    assert answer_json.status_code == 404 and answer_json.headers["content-type"].startswith("application/problem")
