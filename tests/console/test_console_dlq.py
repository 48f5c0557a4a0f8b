"""The DLQ and DLQ analytics pages in a real browser: listing, search, detail, replays, bulk by filter, clear."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from console.console_data import SCRIPT, DeadLetters, email
from console.console_peers import open_console

pytestmark = pytest.mark.browser


@pytest.fixture
def dead(background, valkey_url) -> Iterator[DeadLetters]:
    made = DeadLetters(background, valkey_url)
    yield made
    made.close()


def seed(dead: DeadLetters) -> dict[str, list[str]]:
    """Six email entries (two fingerprints) and two ai entries."""
    ids = {"smtp": [], "bounce": [], "ai": []}
    for n in range(4):
        ids["smtp"].append(dead.add("email.send", email(f"late{n}@example.com"), f"SMTP timeout after {n + 3} seconds"))
    for n in range(2):
        ids["bounce"].append(dead.add("email.send", email(f"gone{n}@example.com"), f"mailbox gone{n} does not exist"))
    for n in range(2):
        payload = {"articleId": f"art-{n}", "prompt": "Write", "tone": "neutral", "maxWords": 100, "locale": "en"}
        ids["ai"].append(dead.add("ai.content.generate", payload, "provider answered 503"))
    return ids


def test_dlq_lists_filters_and_searches_with_field_value_syntax(console, dead) -> None:
    # Given eight dead-lettered jobs over two queues
    seed(dead)
    # When the owner opens the DLQ page
    page = console.goto("/console/dlq")
    # Then every entry is listed with its total
    assert page.locator("#entries-table tbody tr").count() == 8
    assert "8 matching" in page.locator("#dlq-total").inner_text()
    # When the owner filters by queue with the select
    page.select_option("#f-queue", "ai")
    page.click("#filters button[type=submit]")
    page.locator("#dlq-total", has_text="2 matching").wait_for()
    assert set(page.locator("#entries-table tbody tr td:nth-child(3)").all_inner_texts()) == {"ai"}
    # When the owner searches with field:value syntax instead
    page.click("#reset-filters")
    page.locator("#dlq-total", has_text="8 matching").wait_for()
    page.fill("#q", "queue:email to:gone1@example.com")
    page.press("#q", "Enter")
    rows = page.locator("#entries-table tbody tr")
    expect(rows).to_have_count(1)
    assert "gone1 does not exist" in rows.first.inner_text()
    assert "search=queue%3Aemail" in page.url
    # And an invalid search is explained with the API's reason, naming the field
    page.fill("#q", "replays:9")
    page.press("#q", "Enter")
    expect(page.locator("#filter-error")).to_contain_text("replays: between 0 and 5", timeout=60_000)
    assert all(" 422" in line[-4:] for line in console.failed_responses), console.failed_responses
    console.forget_problems()
    console.assert_clean()


def test_replay_one_entry_then_replay_with_an_edited_payload_shows_the_history(console, dead) -> None:
    # Given one dead email job
    entry_id = dead.add("email.send", email("first@example.com", subject="Orig"), "SMTP timeout after 3 seconds")
    owner = console.api.owner()
    page = console.goto("/console/dlq")
    # When the owner opens the entry and replays it
    page.locator(f'tr[data-entry="{entry_id}"] button.link').first.click()
    dialog = page.locator("#entry-dialog")
    dialog.locator("#entry-title", has_text="email.send").wait_for()
    assert "Never replayed." in dialog.locator("#entry-replays").inner_text()
    dialog.locator("#entry-replay").click()
    # Then a toast names the new job and the history shows replay 1 by the owner
    page.locator(".toast", has_text="(replay 1 of 5)").wait_for()
    dialog.locator("#entry-replays tbody tr td", has_text="owner@example.com").wait_for()
    assert owner.get("/owner/queues/email").json()["counts"]["waiting"] == 1
    dead.background.run(dead.jobs.finish(entry_id, "died"))  # one replay in flight at most: that one died
    # When the owner edits the payload with a value the contract refuses
    dialog.locator("#entry-edit").click()
    page.fill("#entry-payload", '{"to": ["not-an-address"], "subject": "Fixed", "text": "x"}')
    dialog.locator("#entry-replay-edited").click()
    # Then the API's field error is shown and nothing is replayed
    dialog.locator("#entry-edit-error", has_text="to.0").wait_for()
    console.forget_problems()  # that 422 was the point of this step
    # When the payload is valid
    page.fill("#entry-payload", '{"to": ["fixed@example.com"], "subject": "Fixed", "text": "x"}')
    dialog.locator("#entry-replay-edited").click()
    # Then replay 2 is recorded as edited and the new job carries the edit
    page.locator(".toast", has_text="(replay 2 of 5)").wait_for()
    dialog.locator("#entry-replays tbody tr", has_text="yes").wait_for()
    jobs = owner.get("/owner/queues/email/jobs", params={"state": "waiting"}).json()["items"]
    assert {tuple(job["data"]["to"]) for job in jobs} == {("first@example.com",), ("fixed@example.com",)}
    console.assert_clean()


def test_bulk_replay_by_filter_previews_then_runs_as_a_task(console, dead) -> None:
    # Given four entries of one fingerprint and four others
    ids = seed(dead)
    owner = console.api.owner()
    fingerprint = owner.get(f"/owner/dlq/entries/{ids['smtp'][0]}").json()["fingerprint"]
    page = console.goto(f"/console/dlq?fingerprint={fingerprint}")
    page.locator("#dlq-total", has_text="4 matching").wait_for()
    # When the owner chooses "Replay all matching"
    page.click("#replay-matching")
    # Then the preview shows the count, the queues and a sample before anything happens
    dialog = page.locator("#confirm-dialog")
    dialog.locator("#confirm-text", has_text="Replay 4 entries from email").wait_for()
    assert dialog.locator("#confirm-sample li").count() == 4
    assert owner.get("/owner/queues/email").json()["counts"]["waiting"] == 0
    # When it is confirmed
    page.click("#confirm-submit")
    # Then a task runs to completion and the four jobs are back in their queue
    page.locator(".toast", has_text="Replay of 4 entries started").wait_for()
    page.locator('#tasks li[data-status="completed"]').wait_for(timeout=20_000)
    assert owner.get("/owner/queues/email").json()["counts"]["waiting"] == 4
    assert "4 ok" in page.locator("#tasks li").first.inner_text()
    console.assert_clean()


def test_multi_select_replay_and_delete(console, dead) -> None:
    # Given eight entries
    ids = seed(dead)
    owner = console.api.owner()
    page = console.goto("/console/dlq?queue=ai")
    page.locator("#dlq-total", has_text="2 matching").wait_for()
    # When the owner selects the page and replays the selection
    page.check("#select-page")
    assert page.locator("#selection-info").inner_text() == "2 selected on this page."
    page.click("#replay-selected")
    page.locator(".toast", has_text="Replayed 2 entries").wait_for()
    assert owner.get("/owner/queues/ai").json()["counts"]["waiting"] == 2
    # When the owner selects one entry and deletes it: the API's impact is shown and "delete dlq" must be typed
    page.locator(f'input[data-id="{ids["ai"][0]}"]').check()
    page.click("#delete-selected")
    dialog = page.locator("#confirm-dialog")
    dialog.locator("#confirm-text", has_text="Delete 1 selected entry of ai").wait_for()
    assert page.locator("#confirm-submit").is_disabled()
    page.fill("#confirm-phrase", "delete dlq")
    page.click("#confirm-submit")
    page.locator(".toast", has_text="Deleted 1 entry").wait_for()
    assert owner.get(f"/owner/dlq/entries/{ids['ai'][0]}").status_code == 404
    console.assert_clean()


def test_delete_all_matching_needs_the_typed_phrase(console, dead) -> None:
    # Given eight entries, two of them in the ai queue
    seed(dead)
    owner = console.api.owner()
    page = console.goto("/console/dlq?queue=ai")
    page.locator("#dlq-total", has_text="2 matching").wait_for()
    # When the owner chooses "Delete all matching"
    page.click("#delete-matching")
    # Then the preview is shown and Confirm stays disabled until "delete dlq" is typed
    dialog = page.locator("#confirm-dialog")
    dialog.locator("#confirm-text", has_text="Delete 2 entries from ai").wait_for()
    page.fill("#confirm-phrase", "delete")
    assert page.locator("#confirm-submit").is_disabled()
    page.fill("#confirm-phrase", "delete dlq")
    page.click("#confirm-submit")
    # And then a task deletes them, and only them
    page.locator(".toast", has_text="Delete of 2 entries started").wait_for()
    page.locator('#tasks li[data-status="completed"]').wait_for(timeout=20_000)
    assert owner.get("/owner/dlq/entries", params={"queue": "ai"}).json()["total"] == 0
    assert owner.get("/owner/dlq/entries", params={"queue": "email"}).json()["total"] == 6
    console.assert_clean()


def test_clear_needs_the_typed_phrase_and_is_refused_without_it(console, dead) -> None:
    # Given eight entries
    seed(dead)
    owner = console.api.owner()
    page = console.goto("/console/dlq")
    # When the owner asks to clear the ai queue's entries
    page.click("#open-clear")
    page.select_option("#clear-queue", "ai")
    page.click("#clear-form button[type=submit]")
    dialog = page.locator("#confirm-dialog")
    dialog.locator("#confirm-text", has_text="deletes 2 entries of ai").wait_for()
    # Then Confirm is disabled until "clear dlq" is typed, and cancelling deletes nothing
    page.fill("#confirm-phrase", "clear")
    assert page.locator("#confirm-submit").is_disabled()
    dialog.get_by_role("button", name="Cancel").click()
    page.locator(".toast", has_text="Clear cancelled").wait_for()
    assert owner.get("/owner/dlq/entries", params={"queue": "ai"}).json()["total"] == 2
    # And the API refuses the second call without the phrase
    first = owner.post("/owner/dlq/clear", json={"queue": "ai"}).json()
    refused = owner.post("/owner/dlq/clear", json={"queue": "ai", "confirmation_token": first["confirmation_token"]})
    assert refused.status_code == 409
    # When the owner types the phrase
    page.click("#open-clear")
    page.select_option("#clear-queue", "ai")
    page.click("#clear-form button[type=submit]")
    dialog.locator("#confirm-text", has_text="deletes 2 entries").wait_for()
    page.fill("#confirm-phrase", "clear dlq")
    page.click("#confirm-submit")
    # Then the ai entries are cleared by a task and the email ones stay
    page.locator(".toast", has_text="Clearing 2 entries").wait_for()
    page.locator('#tasks li[data-status="completed"]').wait_for(timeout=20_000)
    assert owner.get("/owner/dlq/entries", params={"queue": "ai"}).json()["total"] == 0
    assert owner.get("/owner/dlq/entries", params={"queue": "email"}).json()["total"] == 6
    console.assert_clean()


def test_an_entry_holding_script_is_inert(console, dead) -> None:
    # Given an entry whose payload and reason hold markup
    entry_id = dead.add("email.send", email("x@example.com", text=SCRIPT), f"bad template {SCRIPT}")
    page = console.goto("/console/dlq")
    # When the list and the entry are shown
    page.locator(f'tr[data-entry="{entry_id}"] button.link').first.click()
    page.locator("#entry-data", has_text="window.__pwned").wait_for()
    # Then the markup is text, and none of it ran
    assert "<script>" in page.locator("#entry-reason").inner_text()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img, dialog img").count() == 0
    console.assert_clean()


def test_analytics_tabs_range_and_actions(console, dead) -> None:
    # Given eight entries
    ids = seed(dead)
    owner = console.api.owner()
    page = console.goto("/console/dlq/analytics")
    # Then the overview counts them by queue and draws the last day
    assert page.locator('[data-card="total"] .value').inner_text() == "8"
    assert page.locator('[data-card="fingerprints"] .value').inner_text() == "3"
    assert page.locator("#last-day svg .bar").count() >= 24
    # When the Failures tab is chosen with the keyboard (arrow right from the selected tab)
    page.focus("#tab-overview")
    page.keyboard.press("ArrowRight")
    assert page.locator("#panel-failures").is_visible()
    assert "tab=failures" in page.url
    assert page.locator("#by-fingerprint tbody tr").count() == 3
    assert page.locator('#by-name tr[data-name="email.send"] td.num').inner_text() == "6"
    # And the fingerprint with two entries is replayed from its row after the preview
    fingerprint = owner.get(f"/owner/dlq/entries/{ids['bounce'][0]}").json()["fingerprint"]
    page.locator(f'#by-fingerprint tr[data-fingerprint="{fingerprint}"]').locator(
        "button", has_text="Replay all"
    ).click()
    page.locator("#confirm-text", has_text="Replay 2 entries").wait_for()
    page.click("#confirm-submit")
    page.locator(".toast", has_text="Replay of 2 entries started").wait_for()
    # When the Trends tab shows 7 days
    page.click("#tab-trends")
    page.select_option("#range", "7d")
    page.locator('[data-card="trend-total"] .hint', has_text="last 7d").wait_for()
    assert page.locator('[data-card="trend-total"] .value').inner_text() == "8"
    # (the chart is drawn after the card: wait for its 168 hourly bars rather than count them at once)
    expect(page.locator("#trend-chart svg .bar")).to_have_count(7 * 24, timeout=60_000)
    assert "since=" in page.locator("#export").get_attribute("href")
    # And the Replays tab reports statuses
    page.click("#tab-replays")
    page.locator("#by-status tbody tr").first.wait_for()
    # When the export link is followed, the CSV holds the entries
    with page.expect_download() as download:
        page.click("#export")
    text = download.value.path().read_text(encoding="utf-8")
    assert text.count("\n") >= 9
    console.assert_clean()


def test_the_shown_fingerprint_searches_and_unknown_keys_are_named(console, dead) -> None:
    # Given eight entries, four of them with one SMTP fingerprint
    ids = seed(dead)
    page = console.goto("/console/dlq")
    shown = page.locator(f'#entries-table tr[data-entry="{ids["smtp"][0]}"] td:nth-child(9)').inner_text()
    assert len(shown) == 10
    # When the 10 characters the table shows are typed into the fingerprint filter
    page.fill("#f-fingerprint", shown)
    page.press("#f-fingerprint", "Enter")
    # Then the four entries are listed with their count
    expect(page.locator("#dlq-total")).to_have_text("· 4 matching", timeout=60_000)
    expect(page.locator("#entries-table tbody tr")).to_have_count(4)
    # When they are searched as fp: in the search box instead
    page.click("#reset-filters")
    expect(page.locator("#dlq-total")).to_have_text("· 8 matching", timeout=60_000)
    page.fill("#q", f"fp:{shown}")
    page.press("#q", "Enter")
    expect(page.locator("#dlq-total")).to_have_text("· 4 matching", timeout=60_000)
    # When a queue and a job name are combined, the count is shown
    page.fill("#q", "")
    page.select_option("#f-queue", "email")
    page.select_option("#f-name", "email.send")
    expect(page.locator("#dlq-total")).to_have_text("· 6 matching", timeout=60_000)
    assert "Replay all 6 matching" in page.locator("#replay-matching").inner_text()
    # When an unknown key is searched, the error names it
    page.fill("#q", "bogus:thing")
    page.press("#q", "Enter")
    expect(page.locator("#filter-error")).to_contain_text("'bogus'", timeout=60_000)
    console.forget_problems()


def test_the_page_cursor_survives_a_reload(console, dead) -> None:
    # Given 33 entries shown 20 per page
    seed(dead)
    for _ in range(25):
        dead.add("email.send", email("more@example.com"), "SMTP timeout after 9 seconds")
    page = console.goto("/console/dlq?size=20")
    expect(page.locator("#page-info")).to_contain_text("Page 1", timeout=60_000)
    first = page.locator("#entries-table tbody tr").first.get_attribute("data-entry")
    # When the owner goes to the next page and reloads it
    page.click("#next-page")
    expect(page.locator("#page-info")).to_contain_text("Page 2", timeout=60_000)
    second = page.locator("#entries-table tbody tr").first.get_attribute("data-entry")
    assert "cursor=" in page.url
    page.reload()
    page.wait_for_load_state("networkidle")
    # Then the same page is shown, and "Newer" goes back to the first
    expect(page.locator("#page-info")).to_contain_text("Page 2", timeout=60_000)
    assert page.locator("#entries-table tbody tr").first.get_attribute("data-entry") == second
    page.click("#prev-page")
    expect(page.locator("#page-info")).to_contain_text("Page 1", timeout=60_000)
    assert page.locator("#entries-table tbody tr").first.get_attribute("data-entry") == first
    console.assert_clean()


def test_finished_bulk_tasks_fold_and_the_first_row_is_above_the_fold(served, browser, dead) -> None:
    # Given entries and five bulk tasks that ended minutes ago, on a 1280x720 screen
    seed(dead)
    api = served()
    owner = api.owner()
    for _ in range(5):
        body = {"filter": {"queue": "plugins"}}
        preview = owner.post("/owner/dlq/delete", json=body).json()
        started = owner.post(
            "/owner/dlq/delete",
            json={**body, "confirmation_token": preview["confirmation_token"], "phrase": "delete dlq"},
        ).json()
        task_key = dead.service.store.keys.dlq_task(started["task"]["id"])
        dead.background.run(_finished_long_ago(dead, task_key))
    opened = open_console(api, browser, viewport={"width": 1280, "height": 720})
    try:
        page = opened.goto("/console/dlq")
        expect(page.locator("#tasks-section")).to_be_visible(timeout=60_000)
        expect(page.locator("#entries-table tbody tr")).to_have_count(8, timeout=60_000)
        # Then the first entry is on screen, and the finished tasks take one folded line
        first = page.locator("#entries-table tbody tr").first.bounding_box()
        assert first is not None and first["y"] + first["height"] <= 720, first
        panel = page.locator("#tasks-section").bounding_box()
        assert panel is not None and panel["height"] <= 60, panel
        expect(page.locator("#tasks-finished-summary")).to_have_text("5 earlier bulk tasks", timeout=60_000)
        assert not page.locator("#tasks-done").is_visible()
    finally:
        opened.context.close()


async def _finished_long_ago(dead, task_key: str) -> None:
    from support import eventually

    await eventually(lambda: _ended(dead, task_key), timeout=60)
    long_ago = int(time.time() * 1000) - 600_000
    await dead.redis.hset(task_key, mapping={"finishedAt": long_ago, "updatedAt": long_ago})


async def _ended(dead, task_key: str) -> bool:
    return await dead.redis.hget(task_key, "status") == "completed"


def test_a_replay_toast_shows_above_the_entry_dialog(console, dead) -> None:
    # Given an entry opened in its dialog
    ids = seed(dead)
    page = console.goto("/console/dlq")
    page.click(f'#entries-table tr[data-entry="{ids["ai"][0]}"] button.link')
    expect(page.locator("#entry-replay")).to_be_enabled(timeout=60_000)
    # When it is replayed from the dialog
    page.click("#entry-replay")
    toast = page.locator(".toast", has_text="(replay 1 of 5)")
    toast.wait_for(timeout=60_000)
    # Then the toast is the topmost thing where it is drawn, above the open dialog
    assert page.locator("#entry-dialog").evaluate("dialog => dialog.open")
    topmost = toast.evaluate(
        """toast => { const box = toast.getBoundingClientRect();
        const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        return toast.contains(hit) || (hit ? hit.outerHTML.slice(0, 100) : "nothing"); }"""
    )
    assert topmost is True, topmost


def test_analytics_panels_follow_a_custom_range(console, dead) -> None:
    # Given eight entries that failed just now
    seed(dead)
    now = int(time.time() * 1000)
    # When the analytics are opened over a custom range of yesterday, which holds none
    yesterday = f"since={now - 30 * 3_600_000}&until={now - 26 * 3_600_000}"
    page = console.goto(f"/console/dlq/analytics?range=custom&{yesterday}")
    expect(page.locator('[data-card="range"] .value')).to_have_text("0", timeout=60_000)
    # Then no panel shows the entries of another time
    assert page.locator('[data-card="total"] .value').inner_text() == "8"
    assert page.locator("#by-queue tbody").inner_text().strip() == "None."
    assert "Last 24 hours" not in page.locator("#panel-overview").inner_text()
    assert page.locator('[data-card="fingerprints"] .value').inner_text() == "0"
    page.click("#tab-failures")
    assert "No entries failed" in page.locator("#by-fingerprint tbody").inner_text()
    assert "No entries failed" in page.locator("#by-name tbody").inner_text()
    # When a reversed range is applied
    page.fill("#range-since", "2030-01-02T10:00")
    page.fill("#range-until", "2030-01-01T10:00")
    page.click("#custom-range button[type=submit]")
    # Then the error is shown and no figures of any other range stay on screen
    expect(page.locator("#range-error")).to_contain_text("start before the end", timeout=60_000)
    assert not page.locator("#panel-failures").is_visible()
    assert "Nothing to show" in page.locator("#analytics-state").inner_text()
    console.assert_clean()


def test_a_paused_bulk_replay_shows_why_and_can_be_resumed_then_cancelled(console, dead) -> None:
    # Given a bulk replay of 30 email entries whose replayed jobs all die again, paused by its brake of 2 deaths
    payloads = {
        dead.add("email.send", email(f"p{n}@example.com"), "refused"): email(f"p{n}@example.com") for n in range(30)
    }
    owner = console.api.owner()
    body = {"filter": {"queue": "email"}, "rate": 5, "brake_threshold": 2, "brake_window": 120}
    token = owner.post("/owner/dlq/replay", json=body).json()["confirmation_token"]
    task_id = owner.post("/owner/dlq/replay", json={**body, "confirmation_token": token}).json()["task"]["id"]
    deadline = time.monotonic() + 60
    while owner.get(f"/owner/dlq/tasks/{task_id}").json()["status"] != "paused":
        assert time.monotonic() < deadline
        for item in owner.get("/owner/dlq/entries", params={"status": "pending", "limit": 200}).json()["items"]:
            dead.add("email.send", payloads[item["id"]], "SMTP 554 mailbox disabled", queue="email",
                     job_id=f"dlq-{item['id']}-r1", failed_at=int(time.time() * 1000))  # fmt: skip
        time.sleep(0.25)
    # When the owner opens the DLQ page
    page = console.goto("/console/dlq")
    row = page.locator(f'#tasks li[data-task="{task_id}"][data-status="paused"]')
    # Then the paused task shows its reason and the failing fingerprint, with Resume and Cancel
    expect(row).to_contain_text("died again within 120s")
    expect(row.get_by_label(f"task {task_id} failing fingerprints")).to_contain_text("SMTP 554 mailbox disabled")
    # When Resume is clicked, then Cancel
    row.get_by_role("button", name="Resume").click()
    page.locator(".toast", has_text=f"Task {task_id} resumed").wait_for()
    assert owner.get(f"/owner/dlq/tasks/{task_id}").json()["status"] in ("running", "paused")
    page.locator(f'#tasks li[data-task="{task_id}"]').get_by_role("button", name="Cancel").click()
    # Then the task ends cancelled and the entries stay in the DLQ
    page.locator(f'#tasks li[data-task="{task_id}"][data-status="cancelled"]').wait_for(timeout=60_000)
    assert owner.get("/owner/dlq/entries", params={"limit": 200}).json()["total"] == 30
    console.assert_clean()


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_releases_filter_the_dlq_mark_what_is_new_and_draw_markers_on_the_trend(console, dead) -> None:
    # Given release v1 with one failure, then release v2 with the same failure and a new one
    owner = console.api.owner()
    assert owner.post("/owner/releases", json={"name": "v1"}).status_code == 200
    dead.add("email.send", email("late@example.com"), "SMTP timeout after 3 seconds", failed_at=_now_ms() + 1)
    assert owner.post("/owner/releases", json={"name": "v2"}).status_code == 200
    dead.add("email.send", email("late2@example.com"), "SMTP timeout after 3 seconds", failed_at=_now_ms() + 2)
    new = dead.add("email.send", email("x@example.com"), "template digest is missing", failed_at=_now_ms() + 3)
    # When the owner filters the DLQ by release v2
    page = console.goto("/console/dlq")
    expect(page.locator("#entries-table tbody tr")).to_have_count(3)
    page.select_option("#f-release", "v2")
    page.click("#filters button[type=submit]")
    page.locator("#dlq-total", has_text="2 matching").wait_for()
    # Then only v2's entries are listed, each showing its release, and the filter is in the URL
    expect(page.locator("#entries-table tbody tr")).to_have_count(2)
    assert set(page.locator("#entries-table tbody tr td:nth-child(10)").all_inner_texts()) == {"v2"}
    assert "release=v2" in page.url
    # And the entry's detail names its release
    page.click(f'button[aria-label="Open entry {new}"]')
    expect(page.locator("#entry-facts")).to_contain_text("Release")
    expect(page.locator("#entry-facts")).to_contain_text("v2")
    # When the analytics' Failures tab is opened
    page = console.goto("/console/dlq/analytics?tab=failures")
    rows = page.locator("#by-fingerprint tbody tr[data-fingerprint]")
    expect(rows).to_have_count(2)
    # Then the new failure carries a "new in v2" badge and the old one its first and last release
    fresh = page.locator("#by-fingerprint tr", has_text="template digest")
    expect(fresh.locator(".badge", has_text="new in v2")).to_be_visible()
    old = page.locator("#by-fingerprint tr", has_text="SMTP timeout")
    expect(old).to_contain_text("v1 → v2")
    assert old.locator(".badge").count() == 0
    # And the overview counts entries by release, linking to the filtered DLQ
    page.click("#tab-overview")
    expect(page.locator("#by-release a", has_text="v2")).to_have_attribute("href", re.compile(r"release=v2"))
    # And the trend draws a marker at each release
    page.click("#tab-trends")
    expect(page.locator("#trend-chart svg .marker")).to_have_count(2, timeout=60_000)
    expect(page.locator("#trend-releases")).to_contain_text("v1")
    expect(page.locator("#trend-releases")).to_contain_text("v2")
    console.assert_clean()


def test_a_replay_of_selected_entries_runs_braked_pauses_and_shows_why_with_resume_and_cancel(
    served, browser, dead
) -> None:
    # Given 30 email entries and a console whose bulk replays run at 5/s and pause past 2 deaths in 120 s
    api = served(dlq_bulk_rate=5, dlq_replay_brake_threshold=2, dlq_replay_brake_window_seconds=120)
    payloads = {
        dead.add("email.send", email(f"sel{n}@example.com"), "refused"): email(f"sel{n}@example.com") for n in range(30)
    }
    console = open_console(api, browser)
    owner = api.owner()
    try:
        page = console.goto("/console/dlq")
        expect(page.locator("#entries-table tbody tr")).to_have_count(30, timeout=60_000)
        # When the owner selects the page's 30 entries and clicks Replay selected while every replayed job dies
        page.check("#select-page")
        page.click("#replay-selected")
        page.locator(".toast", has_text="Replay of 30 selected entries started as task").wait_for(timeout=60_000)
        task_id = owner.get("/owner/dlq/tasks").json()[0]["id"]
        deadline = time.monotonic() + 60
        while owner.get(f"/owner/dlq/tasks/{task_id}").json()["status"] != "paused":
            assert time.monotonic() < deadline
            for item in owner.get("/owner/dlq/entries", params={"status": "pending", "limit": 200}).json()["items"]:
                dead.add("email.send", payloads[item["id"]], "SMTP 554 mailbox sel disabled", queue="email",
                         job_id=f"dlq-{item['id']}-r1", failed_at=int(time.time() * 1000))  # fmt: skip
            time.sleep(0.25)
        # Then the task panel shows the paused replay of the selection: its plan, reason and failing fingerprint
        row = page.locator(f'#tasks li[data-task="{task_id}"][data-status="paused"]')
        expect(row).to_contain_text("died again within 120s", timeout=60_000)
        expect(row).to_contain_text("selected entries · 5/s from the start; pauses when more than 2 replayed jobs")
        prints = row.get_by_label(f"task {task_id} failing fingerprints")
        expect(prints).to_contain_text("SMTP 554 mailbox sel disabled")
        # When Resume is clicked
        row.get_by_role("button", name="Resume").click()
        page.locator(".toast", has_text=f"Task {task_id} resumed").wait_for()
        # Then the task runs again (or has paused again on the next deaths)
        assert owner.get(f"/owner/dlq/tasks/{task_id}").json()["status"] in ("running", "paused")
        # When Cancel is clicked, the task ends cancelled and every entry stays in the DLQ
        page.locator(f'#tasks li[data-task="{task_id}"]').get_by_role("button", name="Cancel").click()
        page.locator(f'#tasks li[data-task="{task_id}"][data-status="cancelled"]').wait_for(timeout=60_000)
        assert owner.get(f"/owner/dlq/tasks/{task_id}").json()["status"] == "cancelled"
        assert owner.get("/owner/dlq/entries", params={"limit": 200}).json()["total"] == 30
        console.assert_clean()
    finally:
        console.context.close()
