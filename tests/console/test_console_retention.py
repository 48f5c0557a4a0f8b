"""The retention banner in a real browser: the DLQ, queue and audit pages say what retention deletes soon."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from console.console_data import DeadLetters, email
from console.console_peers import open_console

pytestmark = pytest.mark.browser

YEAR_HOURS = 8_760  # longer than the DLQ's 30 days, email's 7 days of failed jobs and the audit log's 365 days


@pytest.fixture
def dead(background, valkey_url) -> Iterator[DeadLetters]:
    made = DeadLetters(background, valkey_url)
    yield made
    made.close()


def test_the_banner_names_what_retention_deletes_within_the_horizon(served, browser, dead) -> None:
    # Given two dead emails (their failed jobs kept 7 days, their entries 30 days), an audited action, and a
    # warning horizon of a year
    console = open_console(served(retention_warning_hours=YEAR_HOURS, alert_interval_seconds=0.5), browser)
    try:
        for n in range(2):
            dead.add("email.send", email(f"late{n}@example.com"), f"SMTP timeout after {n + 3} seconds")
        assert console.api.owner().post("/owner/queues/ai/pause").status_code == 200
        # When the DLQ page is opened, then its banner counts the entries due for deletion by age
        page = console.goto("/console/dlq")
        banner = page.locator("#retention-banner")
        expect(banner).to_be_visible()
        expect(banner.locator('[data-rule="retention_dlq"]')).to_contain_text(
            "Retention: 2 of 2 dead-letter entries will be deleted within 8760 h"
        )
        expect(banner).to_contain_text("(2 by age); the oldest is from")
        expect(banner).to_contain_text("CORRAL_DLQ_MAX_AGE_HOURS")
        # When the email queue's page is opened, then its banner names its failed jobs only
        page = console.goto("/console/queues/email")
        expect(banner).to_be_visible()
        expect(banner.locator(".retention-warning")).to_have_count(1)
        expect(banner).to_contain_text("Retention: 2 of 2 failed jobs will be deleted within 8760 h")
        # And a queue without failed jobs shows no banner
        page = console.goto("/console/queues/system")
        expect(page.locator("#queue-policy")).not_to_be_empty()
        expect(banner).to_be_hidden()
        # When the audit page is opened, then its banner counts the audit rows
        page = console.goto("/console/audit")
        expect(banner.locator('[data-rule="retention_audit"]')).to_contain_text("audit rows will be deleted")
        expect(banner).to_contain_text("CORRAL_AUDIT_RETENTION_DAYS")
        # When the API's alert evaluator has run, then the Alerts page lists the DLQ's retention alert, linked to
        # the DLQ page (not to a queue)
        page = console.goto("/console/alerts")
        row = page.locator('#firing-table tbody tr[data-key="retention_dlq:dlq"]')
        for _ in range(60):
            if row.count():
                break
            page.wait_for_timeout(1_000)
            page.click("#refresh")
        expect(row.get_by_role("link", name="dlq")).to_have_attribute("href", "/console/dlq")
        expect(row.get_by_role("link", name="Dead-letter queue →")).to_be_visible()
        console.assert_clean()
    finally:
        console.context.close()


def test_no_banner_when_nothing_is_due_within_the_default_horizon(console, dead) -> None:
    # Given a dead email, fresh, with the default 24 h horizon
    dead.add("email.send", email("late@example.com"), "SMTP timeout after 3 seconds")
    # When the DLQ and audit pages are opened, then no banner shows
    for path in ("/console/dlq", "/console/audit", "/console/queues/email"):
        page = console.goto(path)
        expect(page.locator("#retention-banner")).to_be_hidden()
    console.assert_clean()
