"""A user's own application, in a module outside the repository, run by every command with `--app`.

No Corral file is edited: the module declares its queue, its job type and its handler on a `Corral` object.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from corral.server import free_port

from corral_up import CORRAL_COMMAND, OWNER, PASSWORD, user_environment
from owned_processes import OutputWatcher, ProcessGroup

SERVICE = """
from corral import Corral, JobContext, JobContract, JobFailure, QueueConfig

app = Corral("reports-service")
app.add_queue(QueueConfig("reports", concurrency=2, attempts=2, backoff_ms=10))


class BuildReport(JobContract):
    reportId: str


@app.job("reports.build", queue="reports")
async def build_report(ctx: JobContext, payload: BuildReport) -> dict:
    if payload.reportId == "broken":
        raise JobFailure(f"report source {payload.reportId} is missing")
    return {"built": payload.reportId, "attempt": ctx.attempt}
"""


def corral(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CORRAL_COMMAND, *args], env=env, capture_output=True, text=True, timeout=120)


def wait_until(condition, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)
    return result


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_users_module_runs_under_corral_app_with_no_corral_file_edited(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given a module of the user's own, outside the repository, declaring one queue and one job type
    code = tmp_path / "code"
    code.mkdir()
    (code / "myservice.py").write_text(SERVICE, encoding="utf-8")
    port = free_port()
    env = user_environment(
        CORRAL_PORT=str(port), CORRAL_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(code), CORRAL_WORKER_PROCESSES="0"
    )
    app = ["--app", "myservice:app"]
    # When `corral --app myservice:app up` runs it (the API and console, no worker) and `corral worker` apart, told
    # the release it runs
    up = processes.spawn([CORRAL_COMMAND, *app, "up"], env=env, stderr=subprocess.PIPE, text=True)
    assert up.stderr is not None
    up_output = OutputWatcher(up.stderr)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(base) or up.poll() is not None)
    assert up.poll() is None, up_output.text()
    worker_env = {**env, "CORRAL_RELEASE": "2026.12.1"}
    worker = processes.spawn([CORRAL_COMMAND, *app, "worker"], env=worker_env, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    OutputWatcher(worker.stderr).wait_for("worker runtime consuming reports", timeout=120)
    # And jobs are enqueued from the command line: a valid one, one that fails, and one with a bad payload
    done = corral(env, *app, "enqueue", "reports.build", "--data", '{"reportId": "r-1"}')
    assert done.returncode == 0, done.stderr
    broken = corral(env, *app, "enqueue", "reports.build", "--data", '{"reportId": "broken"}')
    assert broken.returncode == 0, broken.stderr
    invalid = corral(env, *app, "enqueue", "reports.build", "--data", '{"report": 1}')
    # Then the bad payload is refused naming the field
    assert invalid.returncode == 2 and "reportId: Field required" in invalid.stderr

    # And the queues command lists the app's own queue, where the valid job completes
    def counts() -> dict[str, int] | None:
        listed = json.loads(corral(env, *app, "queues", "--json").stdout)
        found: dict[str, int] = listed["queues"]["reports"]
        return found if found["completed"] == 1 and found["failed"] == 1 else None

    wait_until(counts)
    # And the failing one is in the DLQ, with its reason, and can be replayed from the CLI
    entries = json.loads(corral(env, *app, "dlq", "list", "--json").stdout)["items"]
    assert [(e["queue"], e["name"]) for e in entries] == [("reports", "reports.build")]
    assert entries[0]["failed_reason"] == "report source broken is missing"
    # (tagged with the worker's release, which the worker recorded when it started)
    assert entries[0]["release"] == "2026.12.1"
    releases = json.loads(corral(env, *app, "releases", "list", "--json").stdout)
    assert [(r["name"], r["source"]) for r in releases["items"]] == [("2026.12.1", "worker")]
    replayed = corral(env, *app, "dlq", "replay", entries[0]["id"])
    assert replayed.returncode == 0, replayed.stderr
    # And the API and console show the app's queue and job type
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.post("/auth/login", json={"email": OWNER, "password": PASSWORD}).status_code == 200
        assert [q["name"] for q in client.get("/owner/queues").json()] == ["reports"]
        assert [t["name"] for t in client.get("/owner/job-types").json()] == ["reports.build"]
    assert os.environ.get("CORRAL_APP") is None  # nothing leaked into the test run's own settings


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False
