"""The `corral` command end to end: `up` with its embedded Valkey, `enqueue`, `queues`, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.server import free_port

CORRAL = [sys.executable, "-m", "corral"]


def corral_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_DATA_DIR"] = str(data_dir)
    return env


class Up:
    """A running `corral up` process."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.env = corral_env(data_dir)
        # A session of its own, like a terminal's foreground job: Ctrl-C can then reach the whole group.
        self.process = subprocess.Popen(
            [*CORRAL, "up", "--port", str(self.port)],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"corral up did not come up: {self.process.stderr.read() if self.process.stderr else ''}"
                )
            time.sleep(0.2)

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        _, stderr = self.process.communicate(timeout=60)
        return self.process.returncode, stderr


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CORRAL, *args], env=corral_env(data_dir), capture_output=True, text=True, timeout=60)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    process = Up(tmp_path / "data")
    yield process
    if process.process.poll() is None:
        process.stop()


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
    again = Up(data_dir)
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
@pytest.mark.timeout(120)
def test_ctrl_c_lets_the_active_job_finish_before_the_server_stops(tmp_path: Path, up: Up) -> None:
    data_dir = tmp_path / "data"
    # Given `corral up` running a 2-second job
    payload = {"workflowId": "w", "runId": "r1", "stepId": "s", "action": "delay", "params": {"ms": 2000}}
    assert run(data_dir, "enqueue", "workflow.step", "--data", json.dumps(payload)).returncode == 0
    deadline = time.monotonic() + 20
    while json.loads(run(data_dir, "queues", "--json").stdout)["queues"]["workflows"]["active"] != 1:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    # When Ctrl-C reaches the whole process group, as in a terminal
    os.killpg(up.process.pid, signal.SIGINT)
    _, stderr = up.process.communicate(timeout=60)
    # Then Corral exits cleanly after the job completed (the server outlived the workers' shutdown)
    assert up.process.returncode == 0, stderr
    again = Up(data_dir)
    try:
        counts = json.loads(run(data_dir, "queues", "--json").stdout)["queues"]["workflows"]
        assert counts["completed"] == 1 and counts["active"] == 0, counts
    finally:
        again.stop()
