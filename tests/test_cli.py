"""The `corral` command end to end: `up` with its embedded Valkey, `enqueue`, `queues`, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.server import free_port

from owned_processes import OutputWatcher, ProcessGroup
from reference_peers.messaging_peers import WebhookReceiver

CORRAL = [sys.executable, "-m", "corral"]


def corral_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_DATA_DIR"] = str(data_dir)
    return env


class Up:
    """A running `corral up` process, owned by the test (killed with its group if the test ends first)."""

    def __init__(self, processes: ProcessGroup, data_dir: Path, **settings: str) -> None:
        self.processes = processes
        self.port = free_port()
        self.env = {**corral_env(data_dir), **settings}
        # A session of its own, like a terminal's foreground job: Ctrl-C can then reach the whole group.
        self.process = processes.spawn(
            [*CORRAL, "up", "--port", str(self.port)], env=self.env, stderr=subprocess.PIPE, text=True
        )
        assert self.process.stderr is not None
        self.output = OutputWatcher(self.process.stderr)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"corral up did not come up: {self.output.text()[-4_000:]}")
            time.sleep(0.2)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=120)
        return code, self.output.text()


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CORRAL, *args], env=corral_env(data_dir), capture_output=True, text=True, timeout=120)


@pytest.fixture
def up(tmp_path: Path, processes: ProcessGroup) -> Up:
    return Up(processes, tmp_path / "data")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_up_serves_health_and_a_restart_keeps_waiting_jobs(tmp_path: Path, up: Up) -> None:
    data_dir = tmp_path / "data"
    # Given `corral up` running with its embedded Valkey
    assert (data_dir / "run" / "redis-url").exists()
    # When jobs are enqueued through the CLI to run an hour from now
    ids = []
    for n in range(5):
        result = run(
            data_dir,
            "enqueue",
            "search.remove",
            "--data",
            json.dumps({"docType": "page", "docId": str(n)}),
            "--delay-ms",
            "3600000",
        )
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    assert len(set(ids)) == 5
    # And Corral is stopped and started again
    code, stderr = up.stop()
    assert code == 0, stderr
    assert not (data_dir / "run" / "redis-url").exists()
    again = Up(up.processes, data_dir)
    try:
        # Then the five jobs are still there
        result = run(data_dir, "queues", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["queues"]["system"]["delayed"] == 5, result.stdout
        table = run(data_dir, "queues").stdout
        assert "delayed" in table and "system" in table
    finally:
        code, stderr = again.stop()
    assert code == 0, stderr


def test_enqueue_with_invalid_payload_exits_2_naming_the_field(tmp_path: Path) -> None:
    # When a payload misses a field
    result = CliRunner().invoke(
        app, ["enqueue", "search.remove", "--data", '{"docType": "page"}', "--data-dir", str(tmp_path)]
    )
    # Then the CLI says which field and exits 2, without a traceback
    assert result.exit_code == 2
    assert "docId: Field required" in result.output
    assert "Traceback" not in result.output


def test_enqueue_reads_payload_files_and_rejects_bad_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["enqueue", "search.remove", "--data", f"@{bad}", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    missing = CliRunner().invoke(app, ["enqueue", "search.remove", "--data", "@/no/such/file.json"])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_unknown_job_type_and_missing_server_are_clear_errors(tmp_path: Path) -> None:
    unknown = CliRunner().invoke(app, ["enqueue", "no.such", "--data", "{}", "--data-dir", str(tmp_path)])
    assert unknown.exit_code == 2 and "unknown job type 'no.such'" in unknown.output
    # Given no CORRAL_REDIS_URL and no running `corral up` in this data directory
    no_server = CliRunner().invoke(app, ["queues", "--data-dir", str(tmp_path)], env={"CORRAL_REDIS_URL": ""})
    assert no_server.exit_code == 1 and "no Redis/Valkey server" in no_server.output


def test_enqueue_against_a_server_by_url_prints_the_job_id(tmp_path: Path, valkey_url: str) -> None:
    result = CliRunner().invoke(
        app,
        ["enqueue", "search.remove", "--data", '{"docType": "page", "docId": "9"}', "--idempotency-key", "k1"],
        env={"CORRAL_REDIS_URL": valkey_url, "CORRAL_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().startswith("k-")


def test_bad_setting_is_reported_not_raised(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["queues"], env={"CORRAL_PORT": "99999999"})
    assert result.exit_code == 2
    assert "setting port" in result.output


def test_worker_refuses_unknown_queue(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["worker", "--queue", "nope", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "unknown queue(s) nope" in result.output


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_lets_the_active_job_finish_before_the_server_stops(tmp_path: Path, processes: ProcessGroup) -> None:
    data_dir = tmp_path / "data"
    with WebhookReceiver() as receiver:
        # Given `corral up` running a job that lasts until the test lets it end: a webhook whose receiver holds
        # the request open
        receiver.script["/held"] = [200]
        receiver.gate = threading.Event()
        settings = {"CORRAL_WEBHOOK_ALLOW_PRIVATE": "true", "CORRAL_WEBHOOK_TIMEOUT_SECONDS": "120"}
        up = Up(processes, data_dir, **settings)
        payload = {"pluginId": "p", "url": receiver.url("/held"), "event": "ping"}
        assert run(data_dir, "enqueue", "plugin.webhook", "--data", json.dumps(payload)).returncode == 0
        deadline = time.monotonic() + 120
        while not receiver.deliveries:
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        # When Ctrl-C reaches the whole process group, as in a terminal
        os.killpg(up.process.pid, signal.SIGINT)
        # And the job ends only once the worker has stopped taking new jobs
        up.output.wait_for("queue plugins: taking no new jobs", timeout=120)
        receiver.gate.set()
        code = up.process.wait(timeout=120)
    # Then Corral exits cleanly after the job completed (the server outlived the workers' shutdown)
    assert code == 0, up.output.text()
    assert len(receiver.deliveries) == 1
    again = Up(processes, data_dir)
    try:
        counts = json.loads(run(data_dir, "queues", "--json").stdout)["queues"]["plugins"]
        assert counts["completed"] == 1 and counts["active"] == 0, counts
    finally:
        again.stop()


def test_user_text_is_printed_as_it_is_not_read_as_markup(tmp_path: Path) -> None:
    # When a payload breaks a pattern whose text holds brackets, like rich's markup tags
    bad = {"workflowId": "w", "runId": "r", "steps": [{"id": "s", "action": "Not An Action"}]}
    arguments = ["enqueue", "workflow.run", "--data", json.dumps(bad), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, arguments)
    # Then the error shows the pattern whole, brackets and all
    assert result.exit_code == 2
    assert "steps.0.action" in result.output and "'^[a-z][a-z0-9_.:-]*$'" in result.output, result.output


def test_migrate_prepares_the_store_once_and_names_an_unreachable_one(tmp_path: Path) -> None:
    # Given a fresh data directory and no settings
    env = {**corral_env(tmp_path / "data"), "CORRAL_OWNER_EMAIL": "ops@example.com"}
    # When `corral migrate` runs twice
    first = subprocess.run([*CORRAL, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    again = subprocess.run([*CORRAL, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    # Then the first migrates the store and makes the first owner, the second finds nothing to do
    assert first.returncode == 0, first.stderr
    assert "SQL store migrated to revision" in first.stdout and "First owner account created" in first.stdout
    assert (tmp_path / "data" / "corral.db").exists()
    assert again.returncode == 0, again.stderr
    assert "SQL store migrated" in again.stdout and "First owner" not in again.stdout
    # And a store that cannot be reached is one error line, with the password hidden, and exit 1
    env["CORRAL_DATABASE_URL"] = "postgresql://corral:s3cret-word@127.0.0.1:1/corral"
    failed = subprocess.run([*CORRAL, "migrate"], env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.startswith(
        "error: cannot migrate the SQL store at postgresql://corral:***@127.0.0.1:1/corral: "
    )
    assert "Traceback" not in failed.stderr and "s3cret-word" not in failed.stderr + failed.stdout
