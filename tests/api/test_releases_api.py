"""Releases through the API: mark a deploy (audited, idempotent), list them; DLQ entries marked with the current
release, filtered by it, with each fingerprint's releases in the analytics and the markers in the trends."""

from __future__ import annotations

import time

from corral.dlq.fingerprint import fingerprint
from corral.security.audit import AuditFilter, AuditTrail
from corral.sql import Database
from dlq.dlq_peers import email, seeder

__all__ = ["seeder"]


def now() -> int:
    return int(time.time() * 1000)


def audit_rows(api, action: str) -> list:  # type: ignore[no-untyped-def]
    return list(AuditTrail(Database(api.settings.resolved_database_url)).rows(AuditFilter(action=action)))


def test_a_marked_release_tags_new_entries_and_is_named_on_the_failures_it_introduced(live_api, seeder) -> None:
    api = live_api()
    owner = api.owner()
    # Given release v1 marked by a deploy, and a failure under it
    first = owner.post("/owner/releases", json={"name": "v1"})
    assert first.status_code == 200, first.text
    assert first.json()["created"] is True and first.json()["release"]["source"] == "api"
    old = seeder.add("email.send", email("a@x.org"), "SMTP 421 busy", failed_at=now() + 1)
    # When v2 is marked and it brings a new failure while the old one goes on
    owner.post("/owner/releases", json={"name": "v2"})
    seeder.add("email.send", email("b@x.org"), "SMTP 421 busy", failed_at=now() + 2)
    new = seeder.add("email.send", email("c@x.org"), "template digest missing", failed_at=now() + 3)
    # Then the releases are listed in order with the current one
    listed = owner.get("/owner/releases").json()
    assert [r["name"] for r in listed["items"]] == ["v1", "v2"] and listed["current"] == "v2"
    # And each entry carries its release; the list filters by release, alone or in the search text
    assert owner.get(f"/owner/dlq/entries/{old}").json()["release"] == "v1"
    v2 = owner.get("/owner/dlq/entries", params={"release": "v2"}).json()
    assert {item["release"] for item in v2["items"]} == {"v2"} and v2["total"] == 2
    searched = owner.get("/owner/dlq/entries", params={"q": "release:v1"}).json()
    assert [item["id"] for item in searched["items"]] == [old]
    # And the analytics say which failure is new in v2, and where the old one was seen
    stats = {s["fingerprint"]: s for s in owner.get("/owner/dlq/analytics").json()["top_fingerprints"]}
    assert stats[fingerprint("template digest missing")]["new_in"] == "v2"
    busy = stats[fingerprint("SMTP 421 busy")]
    assert (busy["first_release"], busy["last_release"], busy["new_in"]) == ("v1", "v2", None)
    ranged = owner.get("/owner/dlq/analytics", params={"window": "24h"}).json()
    assert ranged["by_release"] == {"v1": 1, "v2": 2}
    # And the trend carries both release markers
    markers = owner.get("/owner/dlq/trends", params={"window": "24h"}).json()["releases"]
    assert [m["name"] for m in markers] == ["v1", "v2"]
    # And the export names each entry's release
    exported = owner.get("/owner/dlq/export", params={"release": "v2", "format": "csv"}).text.splitlines()
    assert exported[0].endswith(",payload,release") and all(line.endswith(",v2") for line in exported[1:])
    assert len(exported) == 3 and new in {line.split(",")[0] for line in exported[1:]}
    # And marking v1 again (a rollback) makes it current without changing when it was first seen
    again = owner.post("/owner/releases", json={"name": "v1"}).json()
    assert again["created"] is False and again["release"]["first_seen"] == listed["items"][0]["first_seen"]
    assert owner.get("/owner/releases").json()["current"] == "v1"
    # And every mark is in the audit log with its actor
    rows = audit_rows(api, "releases.mark")
    assert sorted(row.resource for row in rows) == ["release:v1", "release:v1", "release:v2"]


def test_a_bad_release_is_a_422_naming_the_field_and_marking_needs_its_permission(live_api) -> None:
    # Given the viewer role granted dlq:read only
    api = live_api(role_grants={"viewer": ["dlq:read"]})
    owner = api.owner()
    # When a release name is not one, or the body is not as documented
    for body, field in (
        ({"name": "two words"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "v" * 65}, "name"),
        ({"name": 2}, "name"),
        ({}, "name"),
        ({"name": "v1", "extra": 1}, "extra"),
    ):
        answer = owner.post("/owner/releases", json=body)
        # Then it is refused naming the field, and nothing is recorded
        assert answer.status_code == 422, (body, answer.text)
        assert field in [error["field"] for error in answer.json()["errors"]], (body, answer.json())
    bad_filter = owner.get("/owner/dlq/entries", params={"release": "a/b"})
    assert bad_filter.status_code == 422 and bad_filter.json()["errors"][0]["field"] == "release"
    assert owner.get("/owner/releases").json() == {"items": [], "current": None}
    # And a reader may list releases but not mark one; an anonymous caller neither
    assert api.viewer().get("/owner/releases").status_code == 200
    assert api.viewer().post("/owner/releases", json={"name": "v1"}).status_code == 403
    assert api.anonymous().get("/owner/releases").status_code == 401
    assert owner.get("/owner/releases").json()["items"] == []
