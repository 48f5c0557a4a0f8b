"""The audit log through the API: rows for mutations with who, what and outcome; filters, pages, CSV export."""

from __future__ import annotations

import csv
import io
import json

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


def test_throttled_sign_ins_are_audited_too(live_api) -> None:
    # Given an account budget of five sign-in attempts a minute
    api = live_api(rate_limit_login_account="5/minute", rate_limit_login_ip="100/minute")
    client = api.anonymous()
    # When someone tries eight passwords for one account
    answers = [
        client.post("/auth/login", json={"email": "target@example.com", "password": f"guess {n}"}).status_code
        for n in range(8)
    ]
    # Then five were refused and three throttled, and every one of the eight attempts has its audit row
    assert answers == [401] * 5 + [429] * 3
    rows = api.owner().get("/owner/audit", params={"action": "auth.login", "actor": "target@example.com"}).json()
    assert [row["result"] for row in rows["items"]] == ["throttled"] * 3 + ["denied"] * 5
    assert rows["items"][0]["params"] == {"budget": "login-account"} and rows["items"][0]["ip"] == "127.0.0.1"


def test_csv_parameters_are_json(live_api) -> None:
    # Given an audited action with nested parameters, a quote and a non-ASCII name
    api = live_api()
    owner = api.owner()
    owner.post("/auth/tokens", json={"name": 'déploi "prod"', "ttl_days": 3})
    # When the audit log is exported
    response = owner.get("/owner/audit.csv", params={"action": "tokens.create"})
    # Then the params cell is JSON (not Python's repr), and reads back as the row's parameters
    row = list(csv.DictReader(io.StringIO(response.text)))[0]
    assert json.loads(row["params"]) == {"name": 'déploi "prod"', "ttl_days": 3, "source": "api"}
    assert "'" not in row["params"] and "None" not in row["params"]


def test_the_data_access_log_is_paged_filtered_and_owner_only(live_api) -> None:
    # Given reads of job lists and of the audit log
    api = live_api()
    owner = api.owner()
    for state in ("waiting", "failed", "delayed"):
        assert owner.get("/owner/queues/email/jobs", params={"state": state}).status_code == 200
    assert owner.get("/owner/audit").status_code == 200
    # When the data-access log is read, newest first, two at a time
    first = owner.get("/owner/data-access", params={"limit": 2}).json()
    # Then the audit read and the last job list come first, each with who, what kind and the filter
    assert [(item["target_type"], item["actor"]) for item in first["items"]] == [
        ("audit", "owner@example.com"),
        ("job", "owner@example.com"),
    ]
    assert first["items"][1]["details"]["state"] == "delayed" and first["items"][1]["ip"] == "127.0.0.1"
    older = owner.get("/owner/data-access", params={"limit": 2, "before": first["next_before"]}).json()
    assert [item["details"]["state"] for item in older["items"]] == ["failed", "waiting"]
    # ... a filter by kind keeps only job reads, and reading the log was itself logged
    jobs = owner.get("/owner/data-access", params={"target_type": "job"}).json()["items"]
    assert {item["target_type"] for item in jobs} == {"job"} and len(jobs) == 3
    assert owner.get("/owner/data-access", params={"target_type": "data-access"}).json()["items"]
    # And bad input names the field; only an owner may read it
    bad = owner.get("/owner/data-access", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"
    assert bad.headers["content-type"].startswith("application/problem+json")
    since = owner.get("/owner/data-access", params={"since": "12345"})
    assert since.status_code == 422 and since.json()["errors"][0]["field"] == "since"
    assert api.viewer().get("/owner/data-access").status_code == 403
    assert api.anonymous().get("/owner/data-access").status_code == 401
