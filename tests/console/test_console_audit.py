"""The audit page in a real browser: rows of the owner's actions, filters, details and the CSV export."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_audit_lists_actions_filters_them_and_exports_csv(console) -> None:
    # Given the owner paused and resumed a queue through the API
    owner = console.api.owner()
    assert owner.post("/owner/queues/email/pause").status_code == 200
    assert owner.post("/owner/queues/ai/resume").status_code == 200
    # When the audit page is opened
    page = console.goto("/console/audit")
    # Then both actions are listed, newest first
    actions = page.locator("#audit-table tbody tr:not(.details) td:nth-child(3)")
    assert actions.all_inner_texts()[:2] == ["queues.resume", "queues.pause"]
    # When it is filtered by action
    page.fill('input[name="action"]', "queues.pause")
    page.click("#filters button[type=submit]")
    expect(actions).to_have_count(1)
    assert "action=queues.pause" in page.url
    # And a row's details show its parameters
    page.get_by_role("button", name="Details").first.click()
    assert "queue" in page.locator("tr.details").first.inner_text()
    # Then the export link carries the filter, and its CSV holds the row
    href = page.locator("#export").get_attribute("href")
    assert href is not None and "action=queues.pause" in href
    with page.expect_download() as download:
        page.click("#export")
    text = download.value.path().read_text(encoding="utf-8")
    assert "queues.pause" in text and "queues.resume" not in text
    # When a filter matches nothing, an empty state says so
    page.fill('input[name="actor"]', "nobody@example.com")
    page.click("#filters button[type=submit]")
    page.locator("#audit-state", has_text="No audit rows match").wait_for()
    console.assert_clean()
