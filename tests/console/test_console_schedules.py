"""The Schedules page in a real browser: the list with next runs, the create and edit form with the API's field errors,
pause and resume, run now, and delete behind the confirmation dialog."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

CLEANUP = {"target": "completed", "olderThanHours": 24}


def test_a_schedule_is_created_in_the_form_listed_with_its_next_run_paused_resumed_and_run(console) -> None:
    owner = console.api.owner()
    # Given a schedule made through the API
    made = owner.post(
        "/owner/schedules", json={"id": "nightly", "name": "system.cleanup", "payload": CLEANUP, "cron": "0 3 * * *"}
    )
    assert made.status_code == 201, made.text
    # When the owner opens the Schedules page
    page = console.goto("/console/schedules")
    row = page.locator('tr[data-schedule="nightly"]')
    row.wait_for()
    # Then it is listed with its queue, job, rule and next run
    assert row.locator("td").nth(1).inner_text() == "system"
    assert row.locator(".rule").inner_text() == "cron 0 3 * * * (UTC)"
    next_run = row.locator(".next-run")
    assert next_run.get_attribute("title") in next_run.inner_text() and " · in " in next_run.inner_text()
    # When the owner creates an every-2-hours schedule in the form
    page.get_by_role("button", name="New schedule…").click()
    dialog = page.locator("#schedule-dialog")
    dialog.locator("#schedule-id").fill("purge-failed")
    dialog.locator("#schedule-name").select_option("system.cleanup")
    dialog.locator("#schedule-every").fill("2")
    dialog.locator("#schedule-unit").select_option("3600000")
    dialog.locator("#field-target").select_option("failed")
    dialog.locator("#field-olderThanHours").fill("48")
    dialog.get_by_role("button", name="Create").click()
    # Then it is listed, and the API has it with that rule and payload
    page.locator(".toast", has_text="Schedule system/purge-failed created").wait_for()
    created = page.locator('tr[data-schedule="purge-failed"]')
    created.wait_for()
    assert created.locator(".rule").inner_text() == "every 2 h"
    stored = owner.get("/owner/schedules/system/purge-failed").json()
    assert stored["every_ms"] == 7_200_000 and stored["payload"] == {"target": "failed", "olderThanHours": 48}
    # When it is paused, the row says so and the API agrees
    created.get_by_role("button", name="Pause schedule system/purge-failed").click()
    page.locator('tr[data-schedule="purge-failed"][data-status="paused"]').wait_for()
    assert owner.get("/owner/schedules/system/purge-failed").json()["status"] == "paused"
    # When it is run now, a job is enqueued and the toast names it
    page.get_by_role("button", name="Run schedule system/purge-failed now").click()
    toast = page.locator(".toast", has_text="Enqueued system.cleanup as job")
    toast.wait_for()
    job_id = toast.inner_text().split(" as job ")[1].split(" on ")[0]
    assert owner.get(f"/owner/queues/system/jobs/{job_id}").json()["data"] == {"target": "failed", "olderThanHours": 48}
    # When it is resumed, it is active with a next run again
    page.get_by_role("button", name="Resume schedule system/purge-failed").click()
    page.locator('tr[data-schedule="purge-failed"][data-status="active"]').wait_for()
    assert owner.get("/owner/schedules/system/purge-failed").json()["next_run"] is not None
    console.assert_clean()


def test_the_form_shows_the_apis_field_errors_and_edits_and_deletes_a_schedule(console) -> None:
    owner = console.api.owner()
    assert (
        owner.post(
            "/owner/schedules",
            json={"id": "hourly", "name": "system.cleanup", "payload": CLEANUP, "every_ms": 3_600_000},
        ).status_code
        == 201
    )
    page = console.goto("/console/schedules")
    page.locator('tr[data-schedule="hourly"]').wait_for()
    # When a schedule with a bad cron pattern is submitted
    page.get_by_role("button", name="New schedule…").click()
    dialog = page.locator("#schedule-dialog")
    dialog.locator("#schedule-id").fill("broken")
    dialog.locator("#schedule-name").select_option("system.cleanup")
    dialog.locator("#rule-cron").check()
    dialog.locator("#schedule-cron").fill("99 * * * *")
    dialog.locator("#field-olderThanHours").fill("5")
    dialog.locator("#field-target").select_option("events")
    dialog.get_by_role("button", name="Create").click()
    # Then the API's reason is shown next to the cron input, and nothing was made
    error = dialog.locator("#schedule-cron-error")
    error.wait_for()
    assert "99" in error.inner_text() or "range" in error.inner_text()
    assert [s["id"] for s in owner.get("/owner/schedules").json()] == ["hourly"]
    page.keyboard.press("Escape")
    console.forget_problems()  # the refused create answered 422 on purpose
    # When the existing schedule is edited to a cron pattern in Paris time with another payload
    page.get_by_role("button", name="Edit schedule system/hourly").click()
    assert dialog.locator("#schedule-id").is_disabled()
    assert dialog.locator("#schedule-every").input_value() == "1"
    assert dialog.locator("#field-olderThanHours").input_value() == "24"
    dialog.locator("#rule-cron").check()
    dialog.locator("#schedule-cron").fill("15 6 * * 1-5")
    dialog.locator("#schedule-tz").fill("Europe/Paris")
    dialog.locator("#field-olderThanHours").fill("72")
    dialog.get_by_role("button", name="Save").click()
    page.locator(".toast", has_text="Schedule system/hourly saved").wait_for()
    page.locator('tr[data-schedule="hourly"] .rule', has_text="cron 15 6 * * 1-5 (Europe/Paris)").wait_for()
    stored = owner.get("/owner/schedules/system/hourly").json()
    assert (stored["cron"], stored["tz"], stored["every_ms"]) == ("15 6 * * 1-5", "Europe/Paris", None)
    assert stored["payload"]["olderThanHours"] == 72
    # When it is deleted, the confirmation is asked first; cancelling keeps it
    page.get_by_role("button", name="Delete schedule system/hourly").click()
    confirm = page.locator("#confirm-dialog")
    confirm.get_by_role("button", name="Cancel").click()
    assert owner.get("/owner/schedules/system/hourly").status_code == 200
    page.get_by_role("button", name="Delete schedule system/hourly").click()
    confirm.get_by_role("button", name="Delete").click()
    page.locator(".toast", has_text="Schedule system/hourly deleted").wait_for()
    page.locator("#schedules-state", has_text="No schedule yet").wait_for()
    assert owner.get("/owner/schedules").json() == []
    console.assert_clean()
