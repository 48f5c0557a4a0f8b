"""Schedules through the API: create (idempotent by id), list with next runs, edit, pause, resume, run now, remove;
bad input as problem+json naming the field; every change audited; reading needs schedules:read."""

from __future__ import annotations

import asyncio
import time

from corral.engine import Engine
from corral.security.audit import AuditFilter, AuditTrail
from corral.sql import Database

from support import prefixed_keys

CLEANUP = {"target": "completed", "olderThanHours": 24}


def audit_rows(api, action: str) -> list:  # type: ignore[no-untyped-def]
    return list(AuditTrail(Database(api.settings.resolved_database_url)).rows(AuditFilter(action=action)))


def job_state(url: str, queue: str, job_id: str) -> str | None:
    async def read() -> str | None:
        engine = Engine(url, prefixed_keys())
        try:
            job = await engine.get_job(queue, job_id)
            return job.state if job else None
        finally:
            await engine.close()

    return asyncio.run(read())


def test_a_schedule_is_created_once_listed_with_its_next_run_edited_paused_resumed_run_and_removed(
    live_api, valkey_url
) -> None:
    api = live_api()
    owner = api.owner()
    # Given a nightly cleanup schedule, created twice with the same id
    body = {"id": "nightly-cleanup", "name": "system.cleanup", "payload": CLEANUP, "cron": "0 3 * * *", "tz": "UTC"}
    first = owner.post("/owner/schedules", json=body)
    again = owner.post("/owner/schedules", json=body)
    # Then the first call made it (201) and the second changed nothing (200)
    assert first.status_code == 201, first.text
    assert again.status_code == 200 and again.json()["changed"] is False
    made = first.json()["schedule"]
    assert (made["queue"], made["status"], made["cron"], made["tz"]) == ("system", "active", "0 3 * * *", "UTC")
    assert made["next_run"] > time.time() * 1000
    # And it is listed (alone) with its next run, and readable by id
    listed = owner.get("/owner/schedules").json()
    assert [s["id"] for s in listed] == ["nightly-cleanup"] and listed[0]["next_run"] == made["next_run"]
    assert owner.get("/owner/schedules", params={"queue": "system"}).json() == listed
    assert owner.get("/owner/schedules", params={"queue": "email"}).json() == []
    assert owner.get("/owner/schedules/system/nightly-cleanup").json()["payload"] == CLEANUP
    # When it is edited to run every hour
    edited = owner.patch("/owner/schedules/system/nightly-cleanup", json={"every_ms": 3_600_000})
    assert edited.status_code == 200, edited.text
    assert edited.json()["fields"] == ["every_ms", "cron", "tz"]
    assert edited.json()["schedule"]["every_ms"] == 3_600_000 and edited.json()["schedule"]["cron"] is None
    # When it is paused, it is listed as paused with no next run; pausing again changes nothing
    paused = owner.post("/owner/schedules/system/nightly-cleanup/pause")
    assert paused.json()["changed"] is True and paused.json()["schedule"]["status"] == "paused"
    assert paused.json()["schedule"]["next_run"] is None
    assert owner.post("/owner/schedules/system/nightly-cleanup/pause").json()["changed"] is False
    # And run now enqueues one job from its template
    run = owner.post("/owner/schedules/system/nightly-cleanup/run")
    assert run.status_code == 201, run.text
    assert run.json()["name"] == "system.cleanup" and job_state(valkey_url, "system", run.json()["id"]) == "waiting"
    # When it is resumed, it is active with a next run again
    resumed = owner.post("/owner/schedules/system/nightly-cleanup/resume").json()
    assert resumed["changed"] is True and resumed["schedule"]["status"] == "active"
    assert resumed["schedule"]["next_run"] is not None
    # When it is removed, it is gone
    assert owner.delete("/owner/schedules/system/nightly-cleanup").json() == {"ok": True, "affected": 1}
    assert owner.get("/owner/schedules").json() == []
    gone = owner.get("/owner/schedules/system/nightly-cleanup")
    assert gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
    assert owner.delete("/owner/schedules/system/nightly-cleanup").status_code == 404
    # And every change was audited with the owner as actor and the schedule as resource
    for action, count in (
        ("schedules.create", 2),
        ("schedules.edit", 1),
        ("schedules.pause", 2),
        ("schedules.run", 1),
        ("schedules.resume", 1),
        ("schedules.remove", 2),
    ):
        rows = audit_rows(api, action)
        assert len(rows) == count, (action, rows)
        assert {row.actor for row in rows} == {"owner@example.com"}
    created = audit_rows(api, "schedules.create")
    assert {(row.result, row.affected) for row in created} == {("ok", 1), ("ok", 0)}
    assert created[0].resource == "schedule:system/nightly-cleanup" and created[0].params["cron"] == "0 3 * * *"
    [edit_row] = audit_rows(api, "schedules.edit")
    assert edit_row.params["changed"] == ["every_ms", "cron", "tz"]
    assert audit_rows(api, "schedules.run")[0].params["job_id"] == run.json()["id"]
    assert {row.result for row in audit_rows(api, "schedules.remove")} == {"ok", "error 404"}


def test_bad_schedules_are_422_problems_naming_the_field_and_nothing_is_made(live_api) -> None:
    api = live_api()
    owner = api.owner()
    good = {"id": "s1", "name": "system.cleanup", "payload": CLEANUP, "every_ms": 60_000}
    cases = [
        ({**good, "every_ms": None}, "cron"),
        ({**good, "cron": "* * * * *"}, "every_ms"),
        ({**good, "every_ms": 5}, "every_ms"),
        ({**good, "every_ms": "soon"}, "every_ms"),
        ({**good, "every_ms": None, "cron": "every day"}, "cron"),
        ({**good, "every_ms": None, "cron": "70 * * * *"}, "cron"),
        ({**good, "every_ms": None, "cron": "0 3 * * *", "tz": "Atlantis/Capital"}, "tz"),
        ({**good, "payload": {"target": "everything", "olderThanHours": 24}}, "payload.target"),
        ({**good, "payload": {"target": "completed"}}, "payload.olderThanHours"),
        ({**good, "payload": "not an object"}, "payload"),
        ({**good, "name": "no.such.job"}, "name"),
        ({**good, "id": "bad id!"}, "id"),
        ({**good, "surprise": 1}, "surprise"),
    ]
    for body, field in cases:
        answer = owner.post("/owner/schedules", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in answer.json()["errors"]], (body, answer.json())
    assert owner.get("/owner/schedules").json() == []
    # An existing id with another rule is a conflict; a bad edit is a 422 and changes nothing
    assert owner.post("/owner/schedules", json=good).status_code == 201
    conflict = owner.post("/owner/schedules", json={**good, "every_ms": 120_000})
    assert conflict.status_code == 409 and "edit it instead" in conflict.json()["detail"]
    for edit, field in (
        ({"cron": "nope"}, "cron"),
        ({"every_ms": 60_000, "cron": "* * * * *"}, "every_ms"),
        ({"payload": {"target": "x", "olderThanHours": 1}}, "payload.target"),
        ({"name": "email.send"}, "name"),
    ):
        answer = owner.patch("/owner/schedules/system/s1", json=edit)
        assert answer.status_code == 422, (edit, answer.text)
        assert answer.json()["errors"][0]["field"] == field
    assert owner.get("/owner/schedules/system/s1").json()["every_ms"] == 60_000
    # Unknown queues and schedules are 404s
    assert owner.get("/owner/schedules", params={"queue": "nope"}).status_code == 404
    assert owner.post("/owner/schedules/system/missing/pause").status_code == 404
    assert owner.post("/owner/schedules/nope/s1/run").status_code == 404


def test_a_role_granted_schedules_read_may_list_but_not_change_schedules(live_api) -> None:
    # Given the viewer role granted schedules:read only
    api = live_api(role_grants={"viewer": ["schedules:read"]})
    assert api.anonymous().get("/owner/schedules").status_code == 401
    # Then it may list schedules and read one
    assert api.viewer().get("/owner/schedules").status_code == 200
    assert api.viewer().get("/owner/schedules/system/x").status_code == 404
    # But every change is refused with 403
    body = {"id": "x", "name": "system.cleanup", "payload": CLEANUP, "every_ms": 60_000}
    assert api.viewer().post("/owner/schedules", json=body).status_code == 403
    for action in ("pause", "resume", "run"):
        assert api.viewer().post(f"/owner/schedules/system/x/{action}").status_code == 403
    assert api.viewer().patch("/owner/schedules/system/x", json={}).status_code == 403
    assert api.viewer().delete("/owner/schedules/system/x").status_code == 403
    assert api.owner().get("/owner/schedules").json() == []
