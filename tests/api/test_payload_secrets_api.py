"""Secret payload fields over the API: masked in entries, jobs, exports and diffs; revealed only with payload:reveal."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest

from corral.contracts.secrets import MASK
from corral.security.audit import AuditFilter, AuditTrail
from corral.sql import Database
from dlq.dlq_peers import email, seeder

__all__ = ["seeder"]

SECRET = "vault:whsec-7Q2x9-unseen"


def webhook(secret_ref: str | None = SECRET) -> dict[str, object]:
    return {
        "pluginId": "crm",
        "url": "http://127.0.0.1:9/hook",
        "event": "article.published",
        "body": {},
        "secretRef": secret_ref,
    }


def test_secrets_are_masked_in_entries_jobs_exports_and_never_logged(live_api, seeder, settings, caplog) -> None:
    # Given every log record captured, and a dead webhook job whose payload holds a secret reference
    caplog.set_level(logging.DEBUG)
    entry_id = seeder.add("plugin.webhook", webhook(), "HTTP 410 from the hook")
    owner = live_api().owner()
    # When the entry, the failed jobs of its queue, one job and both exports are read
    detail = owner.get(f"/owner/dlq/entries/{entry_id}").json()
    listed = owner.get("/owner/queues/plugins/jobs", params={"state": "failed"}).json()["items"]
    job = owner.get(f"/owner/queues/plugins/jobs/{detail['job_id']}").json()
    as_jsonl = owner.get("/owner/dlq/export", params={"format": "jsonl"}).text
    as_csv = owner.get("/owner/dlq/export", params={"format": "csv"}).text
    # Then the key is kept and its value masked everywhere, other fields shown as they are
    assert detail["data"]["secretRef"] == MASK and detail["data"]["pluginId"] == "crm"
    assert detail["secret_fields"] == ["secretRef"]
    assert listed[0]["data"]["secretRef"] == MASK and job["data"]["secretRef"] == MASK
    assert json.loads(as_jsonl.splitlines()[0])["data"]["secretRef"] == MASK
    row = next(csv.DictReader(io.StringIO(as_csv)))
    assert (
        json.loads(row["payload"])["secretRef"] == MASK and json.loads(row["payload"])["event"] == "article.published"
    )
    for text in (json.dumps(detail), json.dumps(listed), json.dumps(job), as_jsonl, as_csv):
        assert SECRET not in text
    # When the entry is revealed, replayed with an edit made from the masked view, and read again
    revealed = owner.post(f"/owner/dlq/entries/{entry_id}/reveal")
    edited = {**detail["data"], "event": "article.updated"}
    replayed = owner.post(f"/owner/dlq/entries/{entry_id}/replay", json={"payload": edited})
    assert replayed.status_code == 200, replayed.text
    again = owner.get(f"/owner/dlq/entries/{entry_id}").json()
    # Then the reveal shows the real value, the replayed job carries the real secret, not the mask
    assert revealed.status_code == 200 and revealed.json()["data"]["secretRef"] == SECRET
    assert revealed.json()["secret_fields"] == ["secretRef"]
    stored = seeder.loop.run_until_complete(
        seeder.redis.hget(seeder.jobs.keys.job("plugins", replayed.json()["job_id"]), "data")
    )
    assert json.loads(stored or "{}")["secretRef"] == SECRET
    assert replayed.json()["diff"] == {"event": {"from": "article.published", "to": "article.updated"}}
    assert SECRET not in json.dumps(again)
    # And the reveal is in the data-access log naming who saw which entry's fields, and in the audit log, value-free
    accesses = owner.get("/owner/data-access", params={"target_type": "dlq_entry_secrets"}).json()["items"]
    assert len(accesses) == 1 and accesses[0]["actor"] == "owner@example.com"
    assert accesses[0]["target_ids"] == [entry_id] and accesses[0]["details"]["fields"] == ["secretRef"]
    assert accesses[0]["details"]["job"] == "plugin.webhook"
    trail = AuditTrail(Database(settings.resolved_database_url))
    rows = list(trail.rows(AuditFilter(action="dlq.reveal")))
    assert len(rows) == 1 and rows[0].params["fields"] == ["secretRef"]
    assert all(SECRET not in json.dumps(r.params) for r in trail.rows(AuditFilter()))
    # And no log line of the whole flow holds the secret
    assert caplog.records and SECRET not in caplog.text


def test_a_changed_secret_shows_as_changed_but_masked_in_the_diff(live_api, seeder, settings) -> None:
    # Given a dead OTP job (its recipient is secret)
    entry_id = seeder.add(
        "email.otp", {"userId": "u1", "to": "first@x.org", "purpose": "login", "ttlSeconds": 300}, "SMTP 550"
    )
    owner = live_api().owner()
    # When it is replayed with a new recipient
    edit = {"userId": "u1", "to": "second@x.org", "purpose": "login", "ttlSeconds": 300}
    replayed = owner.post(f"/owner/dlq/entries/{entry_id}/replay", json={"payload": edit})
    # Then the answer's diff, the entry's history and the audit row say `to` changed without either address
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["diff"] == {"to": {"from": MASK, "to": MASK}}
    history = owner.get(f"/owner/dlq/entries/{entry_id}").json()["replays"]
    assert history[0]["diff"] == {"to": {"from": MASK, "to": MASK}}
    trail = AuditTrail(Database(settings.resolved_database_url))
    params = json.dumps([r.params for r in trail.rows(AuditFilter(action="dlq.replay"))])
    assert "first@x.org" not in params and "second@x.org" not in params


def test_the_mask_is_never_written_into_a_job(live_api, seeder) -> None:
    # Given a dead webhook job with no secret reference
    entry_id = seeder.add("plugin.webhook", webhook(None), "HTTP 410")
    owner = live_api().owner()
    # When a replay's edit sets the secret to the mask itself
    refused = owner.post(f"/owner/dlq/entries/{entry_id}/replay", json={"payload": webhook(MASK)})
    # Then it is a 422 naming the field, and no job was made
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["payload.secretRef"]
    assert seeder.waiting("plugins") == 0


@pytest.mark.parametrize("grants", [["dlq:read", "account:self"], ["payload:reveal", "account:self"]])
def test_revealing_needs_payload_reveal_and_dlq_read(live_api, seeder, grants) -> None:
    # Given a dead webhook job and a viewer holding only one of the two permissions
    entry_id = seeder.add("plugin.webhook", webhook(), "HTTP 410")
    api = live_api(role_grants={"viewer": grants})
    # When the viewer asks to reveal it
    refused = api.viewer().post(f"/owner/dlq/entries/{entry_id}/reveal")
    # Then it is refused, with no secret in the answer and no data-access row
    assert refused.status_code == 403 and SECRET not in refused.text
    accesses = api.owner().get("/owner/data-access", params={"target_type": "dlq_entry_secrets"}).json()["items"]
    assert accesses == []


def test_revealing_a_missing_entry_is_a_404(live_api) -> None:
    # When an entry that does not exist is revealed
    missing = live_api().owner().post("/owner/dlq/entries/999999/reveal")
    # Then it is a problem 404
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")


def test_a_job_is_revealed_with_payload_reveal_and_the_access_is_logged(live_api, seeder, settings) -> None:
    # Given a failed webhook job whose payload holds a secret reference, and its masked job view
    entry_id = seeder.add("plugin.webhook", webhook(), "HTTP 410 from the hook")
    owner = live_api().owner()
    job_id = owner.get(f"/owner/dlq/entries/{entry_id}").json()["job_id"]
    shown = owner.get(f"/owner/queues/plugins/jobs/{job_id}").json()
    # When the owner reveals the job
    revealed = owner.post(f"/owner/queues/plugins/jobs/{job_id}/reveal")
    # Then the view named the secret field and masked it; the reveal shows the real value and names the field
    assert shown["secret_fields"] == ["secretRef"] and shown["data"]["secretRef"] == MASK
    assert revealed.status_code == 200, revealed.text
    body = revealed.json()
    assert body["data"]["secretRef"] == SECRET and body["secret_fields"] == ["secretRef"]
    assert (body["id"], body["queue"], body["name"]) == (job_id, "plugins", "plugin.webhook")
    # And the data-access log names who saw which job's fields; the audit row holds no value
    accesses = owner.get("/owner/data-access", params={"target_type": "job_secrets"}).json()["items"]
    assert len(accesses) == 1 and accesses[0]["actor"] == "owner@example.com"
    assert accesses[0]["target_ids"] == [job_id]
    assert accesses[0]["details"] == {
        "queue": "plugins",
        "job": "plugin.webhook",
        "job_id": job_id,
        "fields": ["secretRef"],
    }
    rows = list(AuditTrail(Database(settings.resolved_database_url)).rows(AuditFilter(action="jobs.reveal")))
    assert len(rows) == 1 and rows[0].resource == f"job:plugins/{job_id}" and SECRET not in json.dumps(rows[0].params)


@pytest.mark.parametrize("grants", [["jobs:read", "account:self"], ["payload:reveal", "account:self"]])
def test_revealing_a_job_needs_payload_reveal_and_jobs_read(live_api, seeder, grants) -> None:
    # Given a failed webhook job and a viewer holding only one of the two permissions
    entry_id = seeder.add("plugin.webhook", webhook(), "HTTP 410")
    api = live_api(role_grants={"viewer": grants})
    job_id = api.owner().get(f"/owner/dlq/entries/{entry_id}").json()["job_id"]
    # When the viewer asks to reveal it
    refused = api.viewer().post(f"/owner/queues/plugins/jobs/{job_id}/reveal")
    # Then it is refused naming the permission, with no secret in the answer and no data-access row
    assert refused.status_code == 403 and SECRET not in refused.text
    accesses = api.owner().get("/owner/data-access", params={"target_type": "job_secrets"}).json()["items"]
    assert accesses == []


def test_revealing_a_missing_job_or_one_of_an_unknown_queue_is_a_404(live_api) -> None:
    # When a job that does not exist, and a job of a queue that does not exist, are revealed
    owner = live_api().owner()
    missing = owner.post("/owner/queues/plugins/jobs/nope/reveal")
    no_queue = owner.post("/owner/queues/nowhere/jobs/1/reveal")
    # Then both are problem 404s naming what is missing
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert no_queue.status_code == 404 and "nowhere" in no_queue.json()["detail"]


def test_dlq_search_never_matches_a_secret_value(live_api, seeder) -> None:
    # Given a dead OTP job (its recipient is secret) and a dead mail to the same address (not secret there)
    seeder.add("email.otp", {"userId": "u1", "to": "guess@x.org", "purpose": "login", "ttlSeconds": 300}, "SMTP 550")
    mail = seeder.add("email.send", email("guess@x.org"), "SMTP 421")
    owner = live_api().owner()

    def found(**params: str) -> list[str]:
        answer = owner.get("/owner/dlq/entries", params=params)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    # When someone guesses the address by field, as free text and as a field filter
    # Then only the mail is found: the OTP's recipient is not indexed, nor listed as one of its searchable fields
    assert found(q="to:guess@x.org") == [mail]
    assert found(q="guess@x.org") == [mail]
    assert found(q='"guess"') == [mail]
    assert found(field="to:guess@x.org") == [mail]
    fields = owner.get("/owner/dlq/fields").json()
    assert "to" not in fields["email.otp"] and "to" in fields["email.send"]
