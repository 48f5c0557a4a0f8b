"""Secret payload fields in the console: the DLQ entry and the job view show them masked, "Reveal" shows them and
is logged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from console.console_data import DeadLetters
from corral.contracts.secrets import MASK

pytestmark = pytest.mark.browser

SECRET = "vault:whsec-console-4f1"


@pytest.fixture
def dead(background, valkey_url) -> Iterator[DeadLetters]:
    made = DeadLetters(background, valkey_url)
    yield made
    made.close()


def test_a_secret_field_is_masked_until_revealed_and_an_edit_keeps_it(console, dead) -> None:
    # Given a dead webhook job whose payload holds a secret reference
    payload = {"pluginId": "crm", "url": "http://127.0.0.1:9/hook", "event": "article.published", "body": {}}
    entry_id = dead.add("plugin.webhook", {**payload, "secretRef": SECRET}, "HTTP 410 from the hook")
    owner = console.api.owner()
    page = console.goto("/console/dlq")
    # When the owner opens the entry
    page.locator(f'tr[data-entry="{entry_id}"] button.link').first.click()
    dialog = page.locator("#entry-dialog")
    dialog.locator("#entry-title", has_text="plugin.webhook").wait_for()
    # Then the payload shows the field with the mask, and says which fields are secret
    assert MASK in dialog.locator("#entry-data").inner_text()
    assert SECRET not in page.content()
    assert "Secret fields masked: secretRef." in dialog.locator("#entry-secrets").inner_text()
    # When the owner clicks "Reveal"
    dialog.locator("#entry-reveal").click()
    # Then the real value is shown, and the data-access log names the owner, the entry and the field
    dialog.locator("#entry-data", has_text=SECRET).wait_for()
    accesses = owner.get("/owner/data-access", params={"target_type": "dlq_entry_secrets"}).json()["items"]
    assert [(a["actor"], a["target_ids"], a["details"]["fields"]) for a in accesses] == [
        ("owner@example.com", [entry_id], ["secretRef"])
    ]
    # When the entry is closed, opened afresh and replayed with an edit of another field (the secret left masked)
    dialog.locator("[data-close]").click()
    page.locator(f'tr[data-entry="{entry_id}"] button.link').first.click()
    dialog.locator("#entry-secrets", has_text="masked").wait_for()
    dialog.locator("#entry-edit").click()
    assert MASK in page.input_value("#entry-payload")
    edited = json.loads(page.input_value("#entry-payload"))
    page.fill("#entry-payload", json.dumps({**edited, "event": "article.updated"}))
    dialog.locator("#entry-replay-edited").click()
    page.locator(".toast", has_text="(replay 1 of 5)").wait_for()
    # Then the new job runs with the real secret, never with the mask
    job_id = owner.get(f"/owner/dlq/entries/{entry_id}").json()["replays"][0]["jobId"]
    stored = dead.background.run(dead.redis.hget(dead.jobs.keys.job("plugins", job_id), "data"))
    assert json.loads(stored or "{}") == {**payload, "event": "article.updated", "secretRef": SECRET}
    console.assert_clean()


def test_a_jobs_secret_field_is_masked_in_the_job_view_until_revealed(console, dead) -> None:
    # Given a failed webhook job whose payload holds a secret reference, and whose reason quotes it
    payload = {"pluginId": "crm", "url": "http://127.0.0.1:9/hook", "event": "article.published", "body": {}}
    entry_id = dead.add("plugin.webhook", {**payload, "secretRef": SECRET}, f"hook refused the signature of {SECRET}")
    owner = console.api.owner()
    job_id = owner.get(f"/owner/dlq/entries/{entry_id}").json()["job_id"]
    # When the owner opens the job in its queue's view
    page = console.goto(f"/console/queues/plugins?job={job_id}")
    dialog = page.locator("#job-dialog")
    dialog.locator("#job-title", has_text="plugin.webhook").wait_for()
    # Then its data and failure reason show the mask, the page holds no secret, and the secret fields are named
    assert MASK in dialog.locator("#job-data").inner_text()
    assert MASK in dialog.locator("#job-failure").inner_text()
    assert SECRET not in page.content()
    assert "Secret fields masked: secretRef." in dialog.locator("#job-secrets").inner_text()
    # When the owner clicks "Reveal"
    dialog.locator("#job-reveal").click()
    # Then the real value is shown, and the data-access log names the owner, the job and the field
    dialog.locator("#job-data", has_text=SECRET).wait_for()
    assert "Secret fields shown: secretRef." in dialog.locator("#job-secrets").inner_text()
    accesses = owner.get("/owner/data-access", params={"target_type": "job_secrets"}).json()["items"]
    assert [(a["actor"], a["target_ids"], a["details"]["fields"]) for a in accesses] == [
        ("owner@example.com", [job_id], ["secretRef"])
    ]
    console.assert_clean()
