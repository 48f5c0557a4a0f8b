"""The monitoring API served for real, with a real `corral worker` process: stats, metrics, failures, workers,
health, alerts, caching and its invalidation by queue operations, and `/metrics` for Prometheus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from corral.settings import Settings

FAST = {
    "metrics_flush_seconds": 0.1,
    "worker_heartbeat_seconds": 0.2,
    "worker_lost_seconds": 1.0,
    "alert_interval_seconds": 0.3,
}
TOKEN = "scrape-token-0123456789-abcdefghijkl"  # 32+ characters, the minimum


def poll(check: Any, timeout: float = 60.0) -> Any:
    """Call `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {result!r})")
        time.sleep(0.1)


@pytest.fixture
def system_worker(settings: Settings, valkey_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real `corral worker --queue system` process with fast monitoring settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update({f"CORRAL_{name.upper()}": str(value) for name, value in FAST.items()})
    env.update(
        {
            "CORRAL_REDIS_URL": valkey_url,
            "CORRAL_DATA_DIR": str(settings.data_dir),
            "CORRAL_KEY_PREFIX": settings.key_prefix,
        }
    )
    process = subprocess.Popen([sys.executable, "-m", "corral", "worker", "--queue", "system"], env=env)
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_monitoring_routes_show_real_traffic_and_queue_operations_drop_the_cache(live_api, system_worker) -> None:
    # Given the API (evaluating alerts every 0.3 s) and a worker process on the `system` queue
    api = live_api(metrics_token=SecretStr(TOKEN), **FAST)
    owner = api.owner()
    workers = poll(lambda: owner.get("/owner/workers").json())
    assert [(w["queues"], w["status"], w["pid"]) for w in workers] == [(["system"], "live", system_worker.pid)]
    # When three search removals run, and two emails wait on a queue nobody consumes
    for doc in range(3):
        response = owner.post(
            "/owner/jobs", json={"name": "search.remove", "payload": {"docType": "page", "docId": f"d{doc}"}}
        )
        assert response.status_code == 201, response.text
    for _ in range(2):
        email = {"to": ["a@example.com"], "subject": "Hello", "text": "Hi"}
        assert owner.post("/owner/jobs", json={"name": "email.send", "payload": email}).status_code == 201

    # Then the metrics of `system` count the completed jobs with their processing and wait times
    def processed() -> Any:
        body = owner.get("/owner/metrics/system", params={"refresh": "true", "points": 5}).json()
        return body if body["summary"]["completed"] == 3 else None

    metrics = poll(processed)
    assert metrics["summary"]["processing"]["count"] == 3 and metrics["summary"]["wait"]["count"] == 3
    assert metrics["summary"]["error_rate"] == 0 and len(metrics["points"]) == 5
    by_type = owner.get("/owner/metrics/system", params={"job_type": "search.remove", "granularity": "hour"})
    assert by_type.status_code == 200 and by_type.json()["summary"]["completed"] == 3
    assert owner.get("/owner/metrics/system", params={"granularity": "hour", "points": 721}).status_code == 422
    assert owner.get("/owner/metrics/nope").status_code == 404
    # ... the stats show the waiting emails, and a second read comes from the cache
    stats = owner.get("/owner/stats", params={"refresh": "true"}).json()
    email = next(q for q in stats["queues"] if q["name"] == "email")
    assert email["counts"]["waiting"] == 2 and email["backlog"] == 2 and not stats["cached"]
    assert owner.get("/owner/stats").json()["cached"] is True
    # ... health and alerts name the email queue without workers, with the evidence
    alerts = poll(lambda: owner.get("/owner/alerts").json())
    # (the evaluator may fire between the two enqueues, so the evidence holds the backlog it saw then)
    assert [(a["key"], a["severity"]) for a in alerts] == [("no_workers:email", "critical")]
    assert alerts[0]["evidence"]["backlog"] in (1, 2)
    health = owner.get("/owner/health").json()
    assert health["status"] == "critical" and health["score"] == 60
    assert [(i["rule"], i["queue"]) for i in health["issues"]] == [("no_workers", "email")]
    history = owner.get("/owner/alerts/history").json()
    assert history["total"] == 1 and history["items"][0]["event"] == "fired"
    rules = owner.get("/owner/alerts/rules").json()
    assert "no_workers" in rules["rules"] and rules["thresholds"]["backlog_warning"] == 1_000
    assert owner.get("/owner/failures", params={"window": "1h"}).json()["reasons"] == []
    # ... and Prometheus sees the same numbers
    scrape = httpx.get(f"{api.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    assert 'corral_queue_jobs{queue="email",state="waiting"} 2.0' in text
    assert 'corral_jobs_completed_total{queue="system"} 3.0' in text
    assert 'corral_job_processing_seconds_count{queue="system"} 3.0' in text
    assert 'corral_job_processing_seconds_bucket{le="+Inf",queue="system"} 3.0' in text
    assert 'corral_workers{status="live"} 1.0' in text
    assert 'corral_alerts_firing{queue="email",rule="no_workers",severity="critical"} 1.0' in text
    assert "corral_dlq_entries 0.0" in text
    # When the email queue is paused through the API
    assert owner.post("/owner/queues/email/pause").status_code == 200
    # Then the cached stats are dropped at once, and the alert resolves
    fresh = owner.get("/owner/stats").json()
    assert not fresh["cached"] and next(q for q in fresh["queues"] if q["name"] == "email")["paused"]
    poll(lambda: owner.get("/owner/alerts").json() == [])
    assert [item["event"] for item in owner.get("/owner/alerts/history").json()["items"]] == ["resolved", "fired"]


def test_prometheus_endpoint_needs_its_own_token(live_api) -> None:
    # Given an API with a metrics token
    api = live_api(metrics_token=SecretStr(TOKEN))
    # Then scrapes without the token, with a wrong one, or with an owner's API token are refused
    assert httpx.get(f"{api.base}/metrics").status_code == 401
    wrong = httpx.get(f"{api.base}/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["content-type"].startswith("application/problem+json")
    assert api.owner().get("/metrics").status_code == 401
    # ... and the right one is served
    assert httpx.get(f"{api.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_prometheus_endpoint_is_off_without_a_token(live_api) -> None:
    # Given an API with no metrics token configured, then /metrics does not exist, whatever the caller sends
    api = live_api()
    assert httpx.get(f"{api.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert api.owner().get("/metrics").status_code == 404


def test_monitoring_reads_need_the_monitoring_permission(live_api) -> None:
    # Given a non-owner and an anonymous caller
    api = live_api()
    for path in ("/owner/stats", "/owner/metrics/email", "/owner/health", "/owner/workers", "/owner/alerts"):
        # Then each read is refused
        assert api.anonymous().get(path).status_code == 401
        assert api.viewer().get(path).status_code == 403


def test_metrics_token_guesses_are_throttled_per_address(live_api) -> None:
    # Given /metrics with its token and a budget of 5 requests per address and minute
    api = live_api(metrics_token=SecretStr(TOKEN), rate_limit_metrics="5/minute")
    # When an address guesses five wrong tokens, then sends the right one
    guesses = [
        httpx.get(f"{api.base}/metrics", headers={"Authorization": f"Bearer guess-{n:032d}"}).status_code
        for n in range(5)
    ]
    after = httpx.get(f"{api.base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    # Then the guesses were refused, and the address is throttled before any token is compared
    assert guesses == [401] * 5
    assert after.status_code == 429 and int(after.headers["Retry-After"]) >= 1
    assert after.headers["content-type"].startswith("application/problem+json")


def test_an_owner_acknowledges_a_firing_alert_once_and_it_is_audited(live_api) -> None:
    # Given an alert firing: emails wait and no worker consumes the queue
    api = live_api(**FAST)
    owner = api.owner()
    email = {"to": ["a@example.com"], "subject": "Hello", "text": "Hi"}
    assert owner.post("/owner/jobs", json={"name": "email.send", "payload": email}).status_code == 201
    [alert] = poll(lambda: owner.get("/owner/alerts").json())
    assert alert["acknowledged_by"] is None
    # When the owner acknowledges it
    done = owner.post(f"/owner/alerts/{alert['id']}/acknowledge")
    # Then the alert shows who acknowledged it and when, and keeps firing
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_by"] == "owner@example.com" and done.json()["acknowledged_at"] > 0
    [still] = owner.get("/owner/alerts").json()
    assert (still["id"], still["acknowledged_by"]) == (alert["id"], "owner@example.com")
    # ... a second acknowledgement keeps the first one's time
    again = owner.post(f"/owner/alerts/{alert['id']}/acknowledge").json()
    assert again["acknowledged_at"] == done.json()["acknowledged_at"]
    # ... and the audit log has the action with the alert
    rows = owner.get("/owner/audit", params={"action": "alerts.acknowledge"}).json()["items"]
    assert [(row["resource"], row["result"]) for row in rows] == [("alert:no_workers:email", "ok")] * 2
    # And an alert that is not firing is 404, a bad id names the field, and only an owner may acknowledge
    missing = owner.post("/owner/alerts/999999/acknowledge")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    bad = owner.post("/owner/alerts/first/acknowledge")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "alert_id"
    assert api.viewer().post(f"/owner/alerts/{alert['id']}/acknowledge").status_code == 403
    assert api.anonymous().post(f"/owner/alerts/{alert['id']}/acknowledge").status_code == 401
    # When the issue goes (the queue is paused), the alert resolves and its acknowledgement goes with it
    assert owner.post("/owner/queues/email/pause").status_code == 200
    poll(lambda: owner.get("/owner/alerts").json() == [])
    resolved = owner.get("/owner/alerts/history").json()["items"][0]
    assert resolved["event"] == "resolved" and resolved["alert"]["acknowledged_by"] == "owner@example.com"


def test_recommendations_say_what_to_do_in_words_not_api_calls(live_api) -> None:
    # Given a queue whose jobs wait without a worker
    api = live_api(**FAST)
    owner = api.owner()
    email = {"to": ["a@example.com"], "subject": "Hello", "text": "Hi"}
    assert owner.post("/owner/jobs", json={"name": "email.send", "payload": email}).status_code == 201
    # When health is read
    [issue] = owner.get("/owner/health", params={"refresh": "true"}).json()["issues"]
    # Then the recommendation names the command and the console page, and no API route
    assert issue["rule"] == "no_workers"
    assert "corral worker --queue email" in issue["recommendation"] and "Workers page" in issue["recommendation"]
    assert "GET /owner" not in issue["recommendation"]


def test_retention_warnings_name_what_retention_trims_within_the_horizon(live_api) -> None:
    # Given audit rows kept one day, so every row already written is deleted within the next 24 h
    api = live_api(audit_retention_days=1)
    owner = api.owner()
    assert owner.post("/owner/queues/email/pause").status_code == 200
    assert owner.post("/owner/queues/email/resume").status_code == 200
    # When the retention warnings are asked for
    response = owner.get("/owner/retention")
    assert response.status_code == 200, response.text
    body = response.json()
    # Then the audit rows are named with the counts and the oldest row's time
    assert body["horizon_hours"] == 24
    [audit] = [w for w in body["warnings"] if w["rule"] == "retention_audit"]
    evidence = audit["evidence"]
    assert audit["severity"] == "warning" and evidence["target"] == "audit" and evidence["retention_days"] == 1
    assert evidence["affected"] == evidence["stored"] >= 2 and evidence["by_count"] == 0
    assert evidence["oldest_at"] <= body["generated_at"] and evidence["oldest_age_seconds"] >= 0
    # And filters keep one store, or one queue's failed jobs (none of the reference queues is near its retention)
    assert [w["rule"] for w in owner.get("/owner/retention", params={"target": "audit"}).json()["warnings"]] == [
        "retention_audit"
    ]
    assert owner.get("/owner/retention", params={"target": "dlq"}).json()["warnings"] == []
    assert owner.get("/owner/retention", params={"queue": "email"}).json()["warnings"] == []
    # And the alert rules list the retention rules and the horizon
    rules = owner.get("/owner/alerts/rules").json()
    assert {"retention_dlq", "retention_failed", "retention_audit"} <= set(rules["rules"])
    assert rules["thresholds"]["retention_warning_hours"] == 24
    # When a filter is wrong, then a 4xx problem names it
    unknown = owner.get("/owner/retention", params={"queue": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    bad = owner.get("/owner/retention", params={"target": "jobs"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "target" in bad.text
    # And a viewer without the monitoring permission is refused
    assert api.viewer().get("/owner/retention").status_code == 403
    # And the health report carries the same warning, among its issues and in `retention`
    health = owner.get("/owner/health", params={"refresh": "true"}).json()
    assert [w["rule"] for w in health["retention"]] == ["retention_audit"]
    assert "retention_audit" in [issue["rule"] for issue in health["issues"]]
