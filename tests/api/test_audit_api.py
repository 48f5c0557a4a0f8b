"""The audit log through the API: rows for mutations with who, what and outcome; filters, pages, CSV export."""

from __future__ import annotations

import csv
import io

from corral.csvsafe import neutralise


def test_audit_rows_record_actor_action_result_and_filter(live_api) -> None:
    api = live_api()
    owner = api.owner()
    owner.post("/owner/queues/email/pause", headers={"User-Agent": "pytest-agent"})
    owner.post("/owner/queues/nope/pause")
    owner.post("/auth/tokens", json={"name": "deploy", "ttl_days": 1})
    rows = owner.get("/owner/audit", params={"action": "queues.pause"}).json()["items"]
    assert [(r["resource"], r["result"]) for r in rows] == [
        ("/owner/queues/nope/pause", "error 404"),
        ("queue:email", "ok"),
    ]
    assert rows[1]["actor"] == "owner@example.com" and rows[1]["user_agent"] == "pytest-agent"
    assert rows[1]["duration_ms"] is not None and rows[1]["ip"] == "127.0.0.1"
    token_row = owner.get("/owner/audit", params={"action": "tokens.create"}).json()["items"][0]
    assert token_row["params"]["name"] == "deploy" and token_row["affected"] == 1
    # Pagination by cursor
    page = owner.get("/owner/audit", params={"limit": 2}).json()
    assert len(page["items"]) == 2 and page["next_before"]
    older = owner.get("/owner/audit", params={"limit": 2, "before": page["next_before"]}).json()
    assert all(r["id"] < page["next_before"] for r in older["items"])
    # Time range and actor filters
    assert owner.get("/owner/audit", params={"actor": "someone@else.org"}).json()["items"] == []
    assert owner.get("/owner/audit", params={"since": "2999-01-01T00:00:00Z"}).json()["items"] == []


def test_secrets_in_parameters_are_redacted(live_api) -> None:
    api = live_api()
    owner = api.owner()
    owner.post("/owner/users", json={"email": "new@example.com", "role": "viewer", "password": "a secret password"})
    row = owner.get("/owner/audit", params={"action": "users.create"}).json()["items"][0]
    assert "a secret password" not in str(row)


def test_failed_logins_are_audited(live_api) -> None:
    api = live_api()
    api.anonymous().post("/auth/login", json={"email": "intruder@example.com", "password": "guess guess"})
    row = api.owner().get("/owner/audit", params={"action": "auth.login"}).json()["items"][0]
    assert row["actor"] == "intruder@example.com" and row["result"] == "denied"


def test_csv_export_is_streamed_and_neutralised(live_api) -> None:
    api = live_api()
    owner = api.owner()
    owner.post("/auth/tokens", json={"name": '=HYPERLINK("http://evil")'})
    response = owner.get("/owner/audit.csv", params={"action": "tokens.create"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:4] == ["id", "created_at", "actor", "action"]
    assert len(rows) == 2
    assert "'=HYPERLINK" not in rows[1][10] or rows[1][10].startswith("{")
    assert neutralise("=1+1") == "'=1+1" and neutralise("@x") == "'@x" and neutralise("\tx") == "'\tx"
    assert neutralise("-2") == "'-2" and neutralise("plain") == "plain"


def test_users_api_creates_lists_and_disables(live_api) -> None:
    api = live_api()
    owner = api.owner()
    created = owner.post(
        "/owner/users", json={"email": "Ed@Example.com", "role": "editor", "password": "long enough pw!"}
    )
    assert created.status_code == 201 and created.json()["email"] == "ed@example.com"
    taken = owner.post(
        "/owner/users", json={"email": "ed@example.com", "role": "editor", "password": "long enough pw!"}
    )
    assert taken.status_code == 409
    weak = owner.post("/owner/users", json={"email": "x@example.com", "role": "editor", "password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    assert "ed@example.com" in {u["email"] for u in owner.get("/owner/users").json()}
    assert owner.post("/owner/users/ed@example.com/disable").status_code == 200
    last_owner = owner.post("/owner/users/owner@example.com/disable")
    assert last_owner.status_code == 409
