"""The Queues and Queue detail pages in a real browser: data, job view, actions, enqueue form, escaping."""

from __future__ import annotations

import pytest

from console.console_data import SCRIPT, email, enqueue, fail_jobs

pytestmark = pytest.mark.browser


def test_queues_page_shows_counts_health_and_pauses_a_queue(console) -> None:
    # Given three jobs waiting on the email queue
    owner = console.api.owner()
    for n in range(3):
        enqueue(owner, "email.send", email(f"reader{n}@example.com"))
    # When the owner opens the Queues page
    page = console.goto("/console")
    # Then the summary cards and the email row show the backlog
    assert page.locator('[data-card="waiting"] .value').inner_text() == "3"
    assert page.locator('[data-card="dlq"] .value').inner_text() == "0"
    assert page.locator('[data-card="health"] .value').inner_text() in {"healthy", "degraded", "critical"}
    row = page.locator('tr[data-queue="email"]')
    assert row.locator("td").nth(2).inner_text() == "3"
    assert row.locator("svg.sparkline").count() == 1
    # When the owner pauses the email queue from its row
    row.get_by_role("button", name="Pause").click()
    # Then a toast confirms it, the row shows it paused, and the API agrees
    page.locator(".toast", has_text="Queue email paused").wait_for()
    row.get_by_role("button", name="Resume").wait_for()
    assert row.locator(".badge", has_text="paused").count() == 1
    assert owner.get("/owner/queues/email").json()["paused"] is True
    # When it is resumed
    row.get_by_role("button", name="Resume").click()
    row.get_by_role("button", name="Pause").wait_for()
    assert owner.get("/owner/queues/email").json()["paused"] is False
    console.assert_clean()


def test_a_failed_job_shows_its_failure_stack_logs_and_timeline_and_can_be_retried(
    console, background, settings, valkey_url
) -> None:
    # Given a job a real worker failed
    owner = console.api.owner()
    [job_id] = fail_jobs(background, settings, valkey_url, owner, 1)
    # When the owner opens the email queue's failed tab and the job
    page = console.goto("/console/queues/email")
    page.get_by_role("tab", name="failed").click()
    page.locator(f'tr[data-job="{job_id}"]').wait_for()
    page.get_by_role("button", name=f"Open job {job_id}").click()
    dialog = page.locator("#job-dialog")
    dialog.locator("#job-title", has_text="email.send").wait_for()
    # Then its data, failure reason (as text), stack trace, logs, progress and timeline are shown
    assert "ghost0@example.com" in dialog.locator("#job-data").inner_text()
    assert "does not exist <b>550</b>" in dialog.locator("#job-failure").inner_text()
    assert dialog.locator("#job-failure b").count() == 0
    assert "UnrecoverableJobError" in dialog.locator("#job-stack").inner_text()
    assert f"refusing job {job_id}" in dialog.locator("#job-logs").inner_text()
    assert "40" in dialog.locator("#job-progress").inner_text()
    assert dialog.locator("#job-timeline li").last.inner_text().endswith("failed")
    assert dialog.locator("#job-timeline li").first.inner_text().endswith("created")
    assert "job=" + job_id in page.url
    # When the owner retries it
    dialog.get_by_role("button", name="Retry").click()
    # Then a toast says so and the job left the failed state
    page.locator(".toast", has_text=f"Job {job_id} will run again").wait_for()
    assert owner.get(f"/owner/queues/email/jobs/{job_id}").json()["state"] in {"waiting", "active"}
    console.assert_clean()


def test_search_pagination_and_state_tabs(console) -> None:
    # Given 25 waiting jobs, one of them for a distinctive address
    owner = console.api.owner()
    for n in range(24):
        enqueue(owner, "email.send", email(f"bulk{n}@example.com"))
    special = enqueue(owner, "email.send", email("needle@example.org"))
    # When the owner shows 20 per page
    page = console.goto("/console/queues/email")
    page.select_option("#page-size", "20")
    page.locator("#page-info", has_text="Page 1 of 2").wait_for()
    assert page.locator("#jobs-table tbody tr").count() == 20
    # And goes to the next page
    page.click("#next-page")
    page.locator("#page-info", has_text="Page 2 of 2").wait_for()
    assert page.locator("#jobs-table tbody tr").count() == 5
    # When the owner searches for text of one payload
    page.fill("#q", "needle@example")
    page.press("#q", "Enter")
    # Then only that job is listed, and the search is kept in the address
    page.locator("#page-info", has_text="1 job(s)").wait_for()
    assert page.locator("#jobs-table tbody tr").count() == 1
    assert page.locator(f'tr[data-job="{special}"]').count() == 1
    assert "q=needle%40example" in page.url
    # When a tab with no jobs is chosen, an empty state says so
    page.get_by_role("tab", name="delayed").click()
    page.locator("#jobs-state", has_text="No delayed job matches").wait_for()
    console.assert_clean()


def test_the_enqueue_form_is_generated_from_the_contract_and_shows_field_errors_inline(console) -> None:
    # Given the email queue's page
    page = console.goto("/console/queues/email")
    # When the owner opens the enqueue form for email.send
    page.click("#open-enqueue")
    page.locator("#enqueue-dialog[open]").wait_for()
    page.select_option("#enqueue-type", "email.send")
    # Then it has one input per contract field, with the required ones marked
    for field in ("to", "subject", "text", "html", "templateId", "vars", "replyTo"):
        assert page.locator(f'#enqueue-fields [data-field="{field}"]').count() == 1
    assert page.locator('[data-field="subject"] .required').count() == 1
    # When it is sent empty, the required fields are flagged before any request
    page.click("#enqueue-form button[type=submit]")
    assert page.locator("#field-subject-error").inner_text() == "required"
    # When the address is not an email, the API's 422 names the field next to its input
    page.fill("#field-to", "not-an-address")
    page.fill("#field-subject", "Hello")
    page.fill("#field-text", "Body")
    page.click("#enqueue-form button[type=submit]")
    error = page.locator("#field-to-error")
    error.wait_for(state="visible")
    assert "to.0" in error.inner_text()
    assert page.locator("#field-to").get_attribute("aria-invalid") == "true"
    assert page.locator(".toast-error").count() >= 1
    console.forget_problems()  # the 422 above was the point of this step
    # When the address is fixed
    page.fill("#field-to", "reader@example.com")
    page.click("#enqueue-form button[type=submit]")
    # Then the job is enqueued, a toast names it and the dialog closes
    page.locator(".toast", has_text="Enqueued email.send as job").wait_for()
    page.locator("#enqueue-dialog").wait_for(state="hidden")
    waiting = console.api.owner().get("/owner/queues/email/jobs", params={"state": "waiting"}).json()
    assert waiting["items"][0]["data"]["to"] == ["reader@example.com"]
    console.assert_clean()


def test_a_payload_holding_script_is_rendered_as_inert_text(console) -> None:
    # Given a job whose payload holds markup and script
    owner = console.api.owner()
    job_id = enqueue(owner, "email.send", email("x@example.com", subject="Hi", text=SCRIPT))
    # When the owner opens it in the console
    page = console.goto(f"/console/queues/email?job={job_id}")
    page.locator("#job-data", has_text="window.__pwned").wait_for()
    # Then the markup is shown literally as text, and nothing of it ran or became an element
    assert SCRIPT.replace('"', '\\"') in page.locator("#job-data").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#job-data script, #job-data img, main img").count() == 0
    console.assert_clean()


def test_purge_needs_the_typed_queue_name_and_is_refused_without_it(console) -> None:
    # Given four waiting jobs
    owner = console.api.owner()
    for n in range(4):
        enqueue(owner, "email.send", email(f"p{n}@example.com"))
    page = console.goto("/console/queues/email")
    # When the owner starts a purge, the API's impact is shown in the typed-confirmation dialog
    page.click("#open-purge")
    dialog = page.locator("#confirm-dialog")
    dialog.locator("#confirm-text", has_text="removes 4 job(s)").wait_for()
    assert dialog.locator("#confirm-expected").inner_text() == "email"
    # Then Confirm stays disabled while the phrase is wrong
    page.fill("#confirm-phrase", "emai")
    assert page.locator("#confirm-submit").is_disabled()
    # When the owner cancels, nothing is removed
    dialog.get_by_role("button", name="Cancel").click()
    page.locator(".toast", has_text="Purge cancelled").wait_for()
    assert owner.get("/owner/queues/email").json()["backlog"] == 4
    # And the API itself refuses a second call without the typed phrase
    first = owner.post("/owner/queues/email/purge", json={}).json()
    refused = owner.post("/owner/queues/email/purge", json={"confirmation_token": first["confirmation_token"]})
    assert refused.status_code == 409
    assert owner.get("/owner/queues/email").json()["backlog"] == 4
    # When the owner purges again and types the queue's name
    page.click("#open-purge")
    dialog.locator("#confirm-text", has_text="removes 4 job(s)").wait_for()
    page.fill("#confirm-phrase", "email")
    page.click("#confirm-submit")
    # Then the jobs are gone and a toast says how many
    page.locator(".toast", has_text="Purged 4 job(s) from email").wait_for()
    assert owner.get("/owner/queues/email").json()["backlog"] == 0
    console.assert_clean()
