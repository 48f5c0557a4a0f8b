"""The DLQ API on a served app: list and search, detail, replay (limit, race, edits), bulk, clear, export."""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor

from corral.security.audit import AuditFilter, AuditTrail
from corral.sql import Database
from dlq.dlq_peers import email, seeder

__all__ = ["seeder"]


def test_list_filters_search_and_cursor_pages(live_api, seeder) -> None:
    # Given 12 dead email jobs and 3 dead AI jobs
    emails = [seeder.add("email.send", email(f"p{i}@x.org"), f"SMTP 421 for p{i}@x.org") for i in range(12)]
    ais = [
        seeder.add("ai.seo.meta", {"articleId": f"art{i}", "title": "t", "body": "b"}, "provider 503") for i in range(3)
    ]
    owner = live_api().owner()
    # When pages of 5 are followed by cursor, and filters and searches are asked
    seen, cursor = [], None
    while True:
        response = owner.get("/owner/dlq/entries", params={"limit": 5, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    by_queue = owner.get("/owner/dlq/entries", params={"queue": "ai"}).json()
    by_field = owner.get("/owner/dlq/entries", params={"field": "to:p3@x.org"}).json()
    by_text = owner.get("/owner/dlq/entries", params={"q": "art2"}).json()
    by_error = owner.get("/owner/dlq/entries", params={"error": "provider"}).json()
    bad = owner.get("/owner/dlq/entries", params={"status": "lost"})
    # Then pages hold every entry once, newest first, and each filter answers exactly its entries
    assert seen == emails + ais
    assert [i["id"] for i in by_queue["items"]] == ais and by_queue["total"] == 3
    assert [i["id"] for i in by_field["items"]] == [emails[3]]
    assert [i["id"] for i in by_text["items"]] == [ais[2]]
    assert len(by_error["items"]) == 3
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_detail_replay_limit_and_edit_validation(live_api, seeder, settings) -> None:
    # Given one dead email job
    entry_id = seeder.add("email.send", email("d@x.org"), "refused")
    owner = live_api().owner()
    # When it is read, replayed with an invalid edit, with a valid edit, then four more times, then a sixth time
    detail = owner.get(f"/owner/dlq/entries/{entry_id}")
    invalid = owner.post(f"/owner/dlq/entries/{entry_id}/replay", json={"payload": {"to": ["nope"], "subject": "s"}})
    edited = owner.post(f"/owner/dlq/entries/{entry_id}/replay", json={"payload": email("d@example.org")})
    for _ in range(4):
        seeder.finish(entry_id, "died")
        assert owner.post(f"/owner/dlq/entries/{entry_id}/replay").status_code == 200
    seeder.finish(entry_id, "died")
    sixth = owner.post(f"/owner/dlq/entries/{entry_id}/replay")
    # Then the detail has everything, the invalid edit is a 422 naming fields, the sixth replay a 409 with why
    assert detail.status_code == 200 and detail.json()["data"]["to"] == ["d@x.org"]
    assert detail.json()["stacktrace"] and detail.json()["reason_pattern"] == "refused"
    assert invalid.status_code == 422 and "to.0" in {e["field"] for e in invalid.json()["errors"]}
    assert edited.status_code == 200 and edited.json()["diff"]["to"]["to"] == ["d@example.org"]
    assert sixth.status_code == 409 and "at most 5 times" in sixth.json()["detail"]
    history = owner.get(f"/owner/dlq/entries/{entry_id}").json()["replays"]
    assert [r["number"] for r in history] == [1, 2, 3, 4, 5] and history[0]["by"] == "owner@example.com"
    assert seeder.waiting("email") == 5
    # And the edit's diff is in the audit log
    trail = AuditTrail(Database(settings.resolved_database_url))
    rows = [r for r in trail.rows(AuditFilter(action="dlq.replay")) if r.result == "ok"]
    assert any(r.params.get("diff", {}).get("to") for r in rows)


def test_concurrent_replay_requests_make_exactly_one_job(live_api, seeder) -> None:
    # Given one dead email job and ten owner clients
    entry_id = seeder.add("email.send", email("race@x.org"), "refused")
    api = live_api()
    clients = [api.owner() for _ in range(10)]
    # When all replay it at once, and then once more while that replay is pending
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda c: c.post(f"/owner/dlq/entries/{entry_id}/replay"), clients))
    later = clients[0].post(f"/owner/dlq/entries/{entry_id}/replay")
    # Then exactly one request made a job; every other one is a 409 problem saying a replay is in flight
    made = [a.json() for a in answers if a.status_code == 200]
    assert len(made) == 1 and made[0]["job_id"] == f"dlq-{entry_id}-r1"
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    assert later.status_code == 409 and "in flight" in later.json()["detail"]
    assert later.headers["content-type"].startswith("application/problem+json")
    assert seeder.waiting("email") == 1
    history = api.owner().get(f"/owner/dlq/entries/{entry_id}").json()["replays"]
    assert [r["jobId"] for r in history] == [made[0]["job_id"]]


def test_bulk_replay_by_filter_previews_then_runs_and_can_be_cancelled(live_api, seeder) -> None:
    # Given 40 dead email jobs
    for i in range(40):
        seeder.add("email.send", email(f"bulk{i}@x.org"), "refused")
    owner = live_api(dlq_bulk_rate=10).owner()
    # When a filter-based bulk replay is previewed, then confirmed, then cancelled
    preview = owner.post("/owner/dlq/replay", json={"filter": {"queue": "email"}}).json()
    assert preview["status"] == "confirmation_required" and preview["count"] == 40 and preview["queues"] == ["email"]
    started = owner.post(
        "/owner/dlq/replay", json={"filter": {"queue": "email"}, "confirmation_token": preview["confirmation_token"]}
    ).json()
    task_id = started["task"]["id"]
    again = owner.post("/owner/dlq/replay", json={"filter": {"queue": "email"}})
    second = owner.post(
        "/owner/dlq/replay",
        json={"filter": {"queue": "email"}, "confirmation_token": again.json()["confirmation_token"]},
    )
    time.sleep(0.5)
    cancelled = owner.post(f"/owner/dlq/tasks/{task_id}/cancel")
    deadline = time.monotonic() + 60
    while (state := owner.get(f"/owner/dlq/tasks/{task_id}").json())["status"] not in ("cancelled", "completed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # Then the task started, a second one on the queue was refused, and the cancelled one stopped early
    assert started["status"] == "started" and started["count"] == 40
    assert second.status_code == 409
    assert cancelled.status_code == 200
    assert state["status"] == "cancelled" and state["done"] < 40
    assert seeder.waiting("email") == state["succeeded"]
    assert [t["id"] for t in owner.get("/owner/dlq/tasks").json()] == [task_id]


def test_bulk_by_ids_and_delete(live_api, seeder) -> None:
    # Given three dead jobs
    ids = [seeder.add("email.send", email(f"i{i}@x.org"), "refused") for i in range(3)]
    owner = live_api().owner()
    # When two are replayed by id, one deleted alone and the rest in bulk (previewed, then confirmed with the phrase)
    replayed = owner.post("/owner/dlq/replay", json={"ids": ids[:2] + ["404"]}).json()
    one = owner.delete(f"/owner/dlq/entries/{ids[0]}")
    missing = owner.delete(f"/owner/dlq/entries/{ids[0]}")
    preview = owner.post("/owner/dlq/delete", json={"ids": ids[1:]}).json()
    confirmed = {"ids": ids[1:], "confirmation_token": preview["confirmation_token"], "phrase": "delete dlq"}
    bulk = owner.post("/owner/dlq/delete", json=confirmed).json()
    # Then results are per id, and the DLQ is empty
    assert replayed["count"] == 2 and replayed["results"]["404"].startswith("error")
    assert one.status_code == 200 and missing.status_code == 404
    assert preview["status"] == "confirmation_required" and preview["count"] == 2
    assert bulk["count"] == 2
    assert owner.get("/owner/dlq/entries").json()["total"] == 0


def test_every_bulk_delete_needs_the_token_and_the_typed_phrase(live_api, seeder) -> None:
    # Given five dead email jobs and one dead AI job
    mails = [seeder.add("email.send", email(f"d{i}@x.org"), "refused") for i in range(5)]
    ai = seeder.add("ai.seo.meta", {"articleId": "a", "title": "t", "body": "b"}, "down")
    owner = live_api().owner()

    def total() -> int:
        return int(owner.get("/owner/dlq/entries").json()["total"])

    # When a bulk delete by ids is asked: the first call only answers its impact and a token
    by_ids = owner.post("/owner/dlq/delete", json={"ids": [*mails[:2], ai, "404"]})
    assert by_ids.status_code == 200
    preview = by_ids.json()
    assert (preview["status"], preview["count"], preview["queues"]) == ("confirmation_required", 3, ["ai", "email"])
    assert preview["phrase"] == "delete dlq" and len(preview["sample"]) == 3
    assert total() == 6
    # And the token without the phrase, or with a wrong one, changes nothing
    token = preview["confirmation_token"]
    ids = [*mails[:2], ai, "404"]
    no_phrase = owner.post("/owner/dlq/delete", json={"ids": ids, "confirmation_token": token})
    wrong = owner.post("/owner/dlq/delete", json={"ids": ids, "confirmation_token": token, "phrase": "delete"})
    other = {"ids": mails, "confirmation_token": token, "phrase": "delete dlq"}
    other_ids = owner.post("/owner/dlq/delete", json=other)
    assert [no_phrase.status_code, wrong.status_code, other_ids.status_code] == [409, 409, 409]
    assert "phrase" in wrong.json()["detail"] and "parameters" in other_ids.json()["detail"]
    assert total() == 6
    # When the token comes with the typed phrase, the ids are deleted
    done = owner.post("/owner/dlq/delete", json={"ids": ids, "confirmation_token": token, "phrase": "delete dlq"})
    assert done.status_code == 200 and done.json()["count"] == 3, done.text
    assert total() == 3
    # And the same holds for a delete by filter: without the phrase nothing starts, with it a task runs
    first = owner.post("/owner/dlq/delete", json={"filter": {"queue": "email"}}).json()
    assert first["count"] == 3 and first["phrase"] == "delete dlq"
    refused = owner.post(
        "/owner/dlq/delete", json={"filter": {"queue": "email"}, "confirmation_token": first["confirmation_token"]}
    )
    assert refused.status_code == 409 and total() == 3
    again = owner.post("/owner/dlq/delete", json={"filter": {"queue": "email"}}).json()
    started = owner.post(
        "/owner/dlq/delete",
        json={"filter": {"queue": "email"}, "confirmation_token": again["confirmation_token"], "phrase": "delete dlq"},
    )
    assert started.status_code == 200 and started.json()["status"] == "started"
    deadline = time.monotonic() + 60
    while total() != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_exporting_dlq_payloads_needs_dlq_read_too(live_api, seeder) -> None:
    # Given a dead job and a viewer granted only `export` (and its own account)
    seeder.add("email.send", email("secret@x.org"), "refused")
    api = live_api(role_grants={"viewer": ["export", "account:self"]})
    # When the viewer exports the DLQ
    refused = api.viewer().get("/owner/dlq/export", params={"format": "jsonl"})
    # Then it is refused: the export carries the payloads that dlq:read guards
    assert refused.status_code == 403 and "dlq:read" in refused.json()["detail"]
    assert "secret@x.org" not in refused.text


def test_exporting_with_both_permissions_is_allowed(live_api, seeder) -> None:
    # Given a viewer granted `export` and `dlq:read`
    seeder.add("email.send", email("shown@x.org"), "refused")
    api = live_api(role_grants={"viewer": ["export", "dlq:read", "account:self"]})
    # Then the export is served
    exported = api.viewer().get("/owner/dlq/export", params={"format": "jsonl"})
    assert exported.status_code == 200 and "shown@x.org" in exported.text


def test_clear_needs_the_token_and_the_typed_phrase(live_api, seeder) -> None:
    # Given dead email and AI jobs
    for i in range(5):
        seeder.add("email.send", email(f"c{i}@x.org"), "refused")
    ai = seeder.add("ai.seo.meta", {"articleId": "a", "title": "t", "body": "b"}, "down")
    owner = live_api().owner()
    # When clearing the email queue: preview, a wrong phrase, then the right one
    preview = owner.post("/owner/dlq/clear", json={"queue": "email"}).json()
    token = preview["confirmation_token"]
    wrong = owner.post("/owner/dlq/clear", json={"queue": "email", "confirmation_token": token, "phrase": "yes"})
    done = owner.post("/owner/dlq/clear", json={"queue": "email", "confirmation_token": token, "phrase": "clear dlq"})
    # Then the preview counts 5 and asks for the phrase, the wrong phrase is refused, the right one clears
    assert preview["count"] == 5 and preview["phrase"] == "clear dlq"
    assert wrong.status_code == 409
    assert done.status_code == 200 and done.json()["status"] == "started"
    deadline = time.monotonic() + 60
    while owner.get("/owner/dlq/entries").json()["total"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [i["id"] for i in owner.get("/owner/dlq/entries").json()["items"]] == [ai]


def test_analytics_trends_fields_and_exports(live_api, seeder) -> None:
    # Given entries with a reason that looks like a formula
    for i in range(4):
        seeder.add("email.send", email(f"e{i}@x.org"), f"-1 credits left for e{i}@x.org")
    seeder.add("ai.seo.meta", {"articleId": "a", "title": "t", "body": "b"}, "=2+3")
    owner = live_api().owner()
    # When analytics, trends, fields and both exports are read
    summary = owner.get("/owner/dlq/analytics", params={"top": 1}).json()
    week = owner.get("/owner/dlq/trends", params={"window": "7d"}).json()
    custom = owner.get("/owner/dlq/trends", params={"since": 0, "until": 3_600_000}).json()
    fields = owner.get("/owner/dlq/fields").json()
    exported = owner.get("/owner/dlq/export", params={"format": "csv"})
    lines = owner.get("/owner/dlq/export", params={"format": "jsonl", "queue": "email"}).text.splitlines()
    # Then they agree with the entries, and CSV cells are neutralised
    assert summary["total"] == 5 and summary["by_queue"] == {"email": 4, "ai": 1}
    assert summary["top_fingerprints"][0]["count"] == 4
    assert week["total"] == 5 and len(week["buckets"]) == 168
    assert custom["total"] == 0 and len(custom["buckets"]) == 1
    assert fields["email.send"] == ["to", "templateId", "replyTo"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv") and len(rows) == 6
    assert {row[9] for row in rows[1:]} >= {"'=2+3", "'-1 credits left for e0@x.org"}
    assert len(lines) == 4


def test_search_syntax_fingerprint_prefix_and_counts_over_http(live_api, seeder) -> None:
    # Given dead email and system jobs, and AI jobs about draft articles
    emails = [seeder.add("email.send", email(f"s{i}@x.org"), f"SMTP 421 for s{i}@x.org") for i in range(4)]
    system = seeder.add("search.remove", {"docType": "article", "docId": "d1"}, "index unavailable")
    drafts = [
        seeder.add("ai.seo.meta", {"articleId": f"draft-{i}f3a", "title": "t", "body": "b"}, f"no article 'draft-{i}'")
        for i in range(2)
    ]
    owner = live_api().owner()
    fingerprint = owner.get(f"/owner/dlq/entries/{emails[0]}").json()["fingerprint"]

    def ids(**params):
        response = owner.get("/owner/dlq/entries", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]], response.json()["total"]

    # When the list is searched with key:value terms, the shown fingerprint prefix, a word inside identifiers, and
    # a queue with a job name
    by_queue = ids(q="queue:system")
    by_prefix = ids(fingerprint=fingerprint[:10])
    by_fp_term = ids(q=f"fp:{fingerprint[:10]}")
    by_word = ids(q="draft")
    both = ids(queue="email", name="email.send")
    bogus = owner.get("/owner/dlq/entries", params={"q": "bogus:thing"})
    short = owner.get("/owner/dlq/entries", params={"fingerprint": "ab"})
    # Then each answers its entries with their count, and bad terms are 422 problems naming the key or field
    assert by_queue == ([system], 1)
    assert by_prefix == (emails, 4) == by_fp_term
    assert by_word[0] == drafts
    assert both == (emails, 4)
    assert bogus.status_code == 422 and bogus.headers["content-type"].startswith("application/problem+json")
    assert bogus.json()["errors"][0]["field"] == "q" and "'bogus'" in bogus.json()["errors"][0]["reason"]
    assert "'bogus'" in bogus.json()["detail"]
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "fingerprint"


def test_analytics_follow_their_time_range(live_api, seeder) -> None:
    # Given email entries of two days ago and one AI entry of now, one email entry replayed
    now = int(time.time() * 1000)
    old = [
        seeder.add("email.send", email(f"o{i}@x.org"), "mailbox full", failed_at=now - 48 * 3_600_000 - i)
        for i in range(3)
    ]
    seeder.add("ai.seo.meta", {"articleId": "a", "title": "t", "body": "b"}, "provider 503", failed_at=now - 1_000)
    owner = live_api().owner()
    assert owner.post(f"/owner/dlq/entries/{old[0]}/replay").status_code == 200
    # When analytics are asked over the last 24 hours, over a custom range holding nothing, and a reversed range
    day = owner.get("/owner/dlq/analytics", params={"window": "24h"}).json()
    empty = owner.get("/owner/dlq/analytics", params={"since": now - 10 * 3_600_000, "until": now - 9 * 3_600_000})
    span = owner.get("/owner/dlq/analytics", params={"since": now - 49 * 3_600_000, "until": now - 47 * 3_600_000})
    reversed_range = owner.get("/owner/dlq/analytics", params={"since": now, "until": now - 3_600_000})
    # Then every breakdown counts only the entries of the range
    assert day["total"] == 4 and day["in_range"] == 1
    assert day["by_queue"] == {"ai": 1} and day["by_name"] == {"ai.seo.meta": 1}
    assert [f["count"] for f in day["top_fingerprints"]] == [1] and day["fingerprints"] == 1
    assert len(day["by_hour"]) == 24 and sum(h["count"] for h in day["by_hour"]) == 1
    assert day["by_status"]["pending"] == 0 and day["by_status"]["never"] == 1
    body = empty.json()
    assert body["in_range"] == 0 and body["by_queue"] == {} and body["by_name"] == {}
    assert body["top_fingerprints"] == [] and sum(h["count"] for h in body["by_hour"]) == 0
    two_days = span.json()
    assert two_days["by_queue"] == {"email": 3} and two_days["by_status"]["pending"] == 1
    assert two_days["by_status"]["never"] == 2
    # And a reversed range is a 422 naming the field
    assert reversed_range.status_code == 422 and reversed_range.json()["errors"][0]["field"] == "until"


def test_the_stats_dlq_size_follows_deletes_at_once(live_api, seeder) -> None:
    # Given three entries and stats cached for a long time
    ids = [seeder.add("email.send", email(f"c{i}@x.org"), "refused") for i in range(3)]
    owner = live_api(stats_cache_seconds=600).owner()
    assert owner.get("/owner/stats").json()["dlq"] == 3
    assert owner.get("/owner/stats").json()["cached"] is True
    # When an entry is deleted through the DLQ API, and another job dies
    assert owner.delete(f"/owner/dlq/entries/{ids[0]}").status_code == 200
    after_delete = owner.get("/owner/stats").json()
    seeder.add("email.send", email("c9@x.org"), "refused")
    after_capture = owner.get("/owner/stats").json()
    # Then the stats' DLQ size is the DLQ's own at once
    assert after_delete["dlq"] == 2 and after_delete["cached"] is False
    assert after_capture["dlq"] == 3
    assert owner.get("/owner/dlq/entries").json()["total"] == 3


def _kill_replays(seeder, owner, payloads: dict[str, dict], reason: str) -> None:
    """Every pending first replay dies again, captured as a worker's final failure is."""
    page = owner.get("/owner/dlq/entries", params={"status": "pending", "limit": 200})
    assert page.status_code == 200, page.text
    for item in page.json()["items"]:
        seeder.add(
            "email.send",
            payloads[item["id"]],
            reason,
            queue="email",
            job_id=f"dlq-{item['id']}-r1",
            failed_at=int(time.time() * 1000),
        )


def _until_status(owner, task_id: str, wanted: str, kill=None) -> dict:
    deadline = time.monotonic() + 60
    while (state := owner.get(f"/owner/dlq/tasks/{task_id}").json())["status"] != wanted:
        assert time.monotonic() < deadline, state
        if kill is not None:
            kill()
        time.sleep(0.25)
    return state


def test_bulk_replay_brake_pauses_on_deaths_and_resumes_or_cancels(live_api, seeder, settings) -> None:
    # Given 60 dead email jobs and a served API
    payloads = {}
    for i in range(60):
        payloads[seeder.add("email.send", email(f"brake{i}@x.org"), "refused")] = email(f"brake{i}@x.org")
    api = live_api()
    owner = api.owner()
    body = {"filter": {"queue": "email"}, "rate": 5, "brake_threshold": 2, "brake_window": 120}
    # When a filter replay with a brake of 2 deaths in 120 s is previewed, confirmed with other limits, then run
    # while every replayed job dies again
    preview = owner.post("/owner/dlq/replay", json=body).json()
    tampered = owner.post(
        "/owner/dlq/replay", json={**body, "brake_threshold": 0, "confirmation_token": preview["confirmation_token"]}
    )
    preview = owner.post("/owner/dlq/replay", json=body).json()
    started = owner.post("/owner/dlq/replay", json={**body, "confirmation_token": preview["confirmation_token"]})
    task_id = started.json()["task"]["id"]
    reason = "SMTP 554 mailbox brake@x.org disabled"
    paused = _until_status(owner, task_id, "paused", lambda: _kill_replays(seeder, owner, payloads, reason))
    # Then the confirmation was bound to the brake, and the task paused itself with its reason and fingerprints
    assert tampered.status_code in (400, 409, 422) and started.status_code == 200
    assert started.json()["task"]["brake"] == {"brake_threshold": 2, "brake_window": 120}
    assert paused["died_again"] > 2 and "died again within 120s" in paused["paused_reason"]
    assert paused["paused_fingerprints"][0]["reason"].startswith("SMTP 554") and paused["done"] < 60
    never = owner.get("/owner/dlq/entries", params={"status": "never", "limit": 200}).json()["items"]
    assert len(never) == 60 - paused["succeeded"]
    # When a viewer tries to resume it, the owner resumes it, then cancels it, then resumes the cancelled task
    refused = api.viewer().post(f"/owner/dlq/tasks/{task_id}/resume")
    resumed = owner.post(f"/owner/dlq/tasks/{task_id}/resume")
    cancelled = owner.post(f"/owner/dlq/tasks/{task_id}/cancel")
    final = _until_status(owner, task_id, "cancelled")
    late = owner.post(f"/owner/dlq/tasks/{task_id}/resume")
    missing = owner.post("/owner/dlq/tasks/nope/resume")
    # Then the viewer is refused, the resume ran on, the cancel stopped it, and the rest stayed in the DLQ
    assert refused.status_code == 403
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    assert cancelled.status_code == 200 and final["done"] < 60
    assert late.status_code == 409 and "only a paused task" in late.json()["detail"]
    assert late.headers["content-type"].startswith("application/problem+json")
    assert missing.status_code == 404
    assert owner.get("/owner/dlq/entries", params={"limit": 200}).json()["total"] == 60
    # And bad brake limits are a 422 naming the field
    bad = owner.post("/owner/dlq/replay", json={**body, "brake_window": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("brake_window")
    # And the resume and the cancel are audited
    trail = AuditTrail(Database(settings.resolved_database_url))
    resumes = trail.rows(AuditFilter(action="dlq.task_resume"))
    assert any(r.result == "ok" and r.resource == f"dlq-task:{task_id}" for r in resumes)
    cancels = trail.rows(AuditFilter(action="dlq.task_cancel"))
    assert any(r.result == "ok" and r.resource == f"dlq-task:{task_id}" for r in cancels)


def test_bulk_replay_by_ids_runs_as_a_braked_task_that_pauses_resumes_and_cancels(live_api, seeder, settings) -> None:
    # Given 30 dead email jobs selected by id, and 3 more
    payloads = {seeder.add("email.send", email(f"ids{i}@x.org"), "refused"): email(f"ids{i}@x.org") for i in range(30)}
    ids = list(payloads)
    few = [seeder.add("email.send", email(f"few{i}@x.org"), "refused") for i in range(3)]
    # (their replays die as well: every pending first replay is killed below)
    payloads.update({entry_id: email(f"few{i}@x.org") for i, entry_id in enumerate(few)})
    owner = live_api().owner()
    body = {"ids": ids, "rate": 100, "brake_threshold": 5, "brake_window": 120, "max_in_flight": 4}
    # When 3 ids are replayed with the default brake, and the 30 with a brake of 5 and 4 jobs in flight while
    # every replayed job dies again
    at_once = owner.post("/owner/dlq/replay", json={"ids": few})
    started = owner.post("/owner/dlq/replay", json=body)
    assert started.status_code == 200, started.text
    task = started.json()["task"]
    reason = "SMTP 554 mailbox ids@x.org disabled"
    paused = _until_status(owner, task["id"], "paused", lambda: _kill_replays(seeder, owner, payloads, reason))
    # Then the few were replayed at once, and the 30 ran as a task that paused within threshold + in flight
    assert at_once.json()["status"] == "done" and at_once.json()["count"] == 3
    assert started.json()["status"] == "started" and started.json()["count"] == 30
    assert (task["source"], task["total"], task["max_in_flight"]) == ("ids", 30, 4)
    assert started.json()["plan"] == {
        "rate": 100,
        "slow_start": 100,
        "start_rate": 100,
        "ramp_window": 120,
        "brake_threshold": 5,
        "brake_window": 120,
        "max_in_flight": 4,
    }
    assert 6 <= paused["done"] <= 9 and paused["paused_reason"].endswith("(more than the threshold of 5)")
    assert paused["paused_fingerprints"][0]["reason"].startswith("SMTP 554")
    # And the ids it did not reach stay in the DLQ, never replayed
    never = {i["id"] for i in owner.get("/owner/dlq/entries", params={"status": "never", "limit": 200}).json()["items"]}
    assert never == set(ids[paused["done"] :])
    # When it is resumed, pauses again, and is cancelled
    resumed = owner.post(f"/owner/dlq/tasks/{task['id']}/resume")
    again = _until_status(owner, task["id"], "paused", lambda: _kill_replays(seeder, owner, payloads, reason))
    cancelled = owner.post(f"/owner/dlq/tasks/{task['id']}/cancel")
    # Then it went on from where it stopped and the rest stays in the DLQ
    assert resumed.status_code == 200 and again["done"] > paused["done"]
    assert cancelled.json()["status"] == "cancelled"
    never = {i["id"] for i in owner.get("/owner/dlq/entries", params={"status": "never", "limit": 200}).json()["items"]}
    assert never == set(ids[again["done"] :])
    # And the start is audited with the task, the ids and the limits
    rows = AuditTrail(Database(settings.resolved_database_url)).rows(AuditFilter(action="dlq.bulk_replay"))
    row = next(r for r in rows if (r.params or {}).get("task") == task["id"])
    assert row.result == "ok" and row.params["ids"] == ids and row.params["brake_threshold"] == 5
    assert row.params["max_in_flight"] == 4 and row.params["slow_start"] == 100


def test_bulk_replay_slow_start_is_in_the_preview_and_the_task_and_bad_values_name_the_field(live_api, seeder) -> None:
    # Given 5 dead email jobs
    for i in range(5):
        seeder.add("email.send", email(f"slow{i}@x.org"), "refused")
    owner = live_api().owner()
    body = {"filter": {"queue": "email"}, "rate": 40, "slow_start": 25, "brake_window": 30}
    # When a replay by filter with a slow start is previewed and started, and bad slow starts are sent
    preview = owner.post("/owner/dlq/replay", json=body).json()
    started = owner.post("/owner/dlq/replay", json={**body, "confirmation_token": preview["confirmation_token"]})
    bad = [owner.post("/owner/dlq/replay", json={**body, "slow_start": value}) for value in (0, 101, True, "fast")] + [
        owner.post("/owner/dlq/replay", json={"ids": ["x"], "max_in_flight": 501})
    ]
    empty = owner.post("/owner/dlq/replay", json={"ids": [], "rate": 5})
    # Then the preview and the task show the plan: 25% of 40/s is 10/s, doubling every 30 s
    assert preview["plan"]["slow_start"] == 25 and preview["plan"]["start_rate"] == 10
    assert preview["plan"]["ramp_window"] == 30
    task = started.json()["task"]
    assert task["slow_start"] == {"slow_start": 25, "start_rate": 10, "ramp_window": 30} and task["current_rate"] == 10
    # And an empty list of ids with a rate is a task with nothing to do
    assert empty.status_code == 200 and empty.json()["count"] == 0 and empty.json()["status"] == "started"
    # And each bad value is a 422 naming its field
    for response, name in zip(bad, ["slow_start"] * 4 + ["max_in_flight"], strict=True):
        assert response.status_code == 422 and response.json()["errors"][0]["field"].endswith(name), response.text
