"""Many API processes: `corral up --api-processes N` on one port, and `corral api` beside a running Corral."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from corral.server import free_port

from corral_up import CORRAL_COMMAND, OWNER, PASSWORD, CorralUp, wait_for_job
from owned_processes import OutputWatcher, ProcessGroup, tagged_processes

MAIL = {"name": "email.send", "payload": {"to": ["reader@example.com"], "subject": "Hi", "text": "Hello."}}


def _live(base: str) -> bool:
    try:
        return httpx.get(f"{base}/livez", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def api_processes(tmp_path: Path) -> list[int]:
    found = []
    for pid in tagged_processes(os.environ["PYTEST_OWNER_TAG"], tmp_path):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"api" in command and b"corral" in command:
            found.append(pid)
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_api_processes_sharing_one_port_serve_every_client(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up` serving its port from three API processes
    up = CorralUp(processes, tmp_path / "data", CORRAL_API_PROCESSES="3")
    assert len(api_processes(tmp_path)) == 2, "two `corral api` processes beside the supervisor's own"
    # And an owner whose every request opens a new connection (so the kernel spreads them over the processes)
    client = httpx.Client(base_url=up.base, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
    login = client.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    # When it works through the console's actions many times, a session, CSRF token and confirmation made on one
    # process being checked on whichever process the next request reaches
    for _ in range(15):
        assert client.get("/auth/me").status_code == 200
        assert client.post("/owner/queues/email/pause").status_code == 200
        assert client.post("/owner/queues/email/resume").status_code == 200
        preview = client.post("/owner/queues/email/purge", json={})
        assert preview.status_code == 200, preview.text
        body = {"confirmation_token": preview.json()["confirmation_token"], "phrase": preview.json()["phrase"]}
        assert client.post("/owner/queues/email/purge", json=body).status_code == 200
    # Then every answer was right, and a job enqueued through any of them runs
    created = client.post("/owner/jobs", json=MAIL)
    assert created.status_code == 201, created.text
    wait_for_job(client, "email", created.json()["id"])
    client.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_corral_api_serves_beside_a_running_corral_without_workers(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given `corral up` with no workers
    up = CorralUp(processes, tmp_path / "data", CORRAL_WORKER_PROCESSES="0")
    # When `corral api` is started on another port with the same data directory
    port = free_port()
    env = {**up.env, "CORRAL_PORT": str(port)}
    api = processes.spawn([CORRAL_COMMAND, "api"], env=env, stderr=subprocess.PIPE, text=True)
    assert api.stderr is not None
    output = OutputWatcher(api.stderr)
    output.wait_for(f"API on http://127.0.0.1:{port}", timeout=120)
    deadline = time.monotonic() + 120
    while not _live(f"http://127.0.0.1:{port}"):
        assert time.monotonic() < deadline and api.poll() is None, output.text()
        time.sleep(0.2)
    # Then the owner signs in there and enqueues a job, which waits (no worker runs)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        login = client.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        created = client.post("/owner/jobs", json=MAIL)
        assert created.status_code == 201, created.text
        counts = json.loads(up.cli("queues", "--json").stdout)["queues"]["email"]
        assert counts["waiting"] == 1, counts
    # And it stops cleanly on SIGTERM
    api.terminate()
    assert api.wait(timeout=60) == 0, output.text()
