"""Every link and every non-destructive control of every console page works, with data on every page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.console_data import DeadLetters, email, enqueue, fail_jobs
from console.console_peers import Console, open_console
from console.crawler import crawl

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

PAGES = [
    "/console",
    "/console/queues/email",
    "/console/dlq",
    "/console/dlq/analytics",
    "/console/live",
    "/console/audit",
    "/console/audit/data-access",
    "/console/workers",
    "/console/alerts",
    "/console/schedules",
]


@pytest.fixture
def console(served, browser) -> Iterator[Console]:
    """A console whose read and export budgets fit a crawl (hundreds of reads a minute, an export per page)."""
    opened = open_console(served(rate_limit_reads="100000/minute", rate_limit_exports="1000/minute"), browser)
    yield opened
    opened.context.close()


def test_the_crawler_finds_no_error_and_no_dead_control(console, background, settings, valkey_url) -> None:
    # Given data on every page: waiting, delayed and failed jobs, DLQ entries (one replayed), a schedule, audit rows
    owner = console.api.owner()
    fail_jobs(background, settings, valkey_url, owner, 2)
    for n in range(3):
        enqueue(owner, "email.send", email(f"crawl{n}@example.com"))
    enqueue(owner, "email.send", email("later@example.com"), delay_ms=3_600_000)
    dead = DeadLetters(background, valkey_url)
    try:
        entry = dead.add("ai.content.generate", {"articleId": "a1", "prompt": "p"}, "provider answered 503")
    finally:
        dead.close()
    assert owner.post(f"/owner/dlq/entries/{entry}/replay").status_code == 200
    assert owner.post("/owner/queues/system/pause").status_code == 200
    cleanup = {"name": "system.cleanup", "payload": {"target": "completed", "olderThanHours": 24}}
    assert owner.post("/owner/schedules", json={"id": "nightly", **cleanup, "cron": "0 3 * * *"}).status_code == 201
    # When the crawler follows every link and clicks every non-destructive control of every page
    report = crawl(console, PAGES, set(PAGES))
    # Then every page was reached, hundreds of controls were used, and none did nothing
    assert set(PAGES) <= set(report.pages)
    assert any(page.startswith("/console/queues/") and page != "/console/queues/email" for page in report.pages)
    assert len(report.clicked) >= 80, report.clicked
    assert {"/owner/audit.csv", "/owner/dlq/export?format=csv"} & set(report.downloads)
    assert not report.inert, report.inert
    # And no answer was a 4xx/5xx and the browser logged no error
    console.assert_clean()
