"""A real `corral up` subprocess for end-to-end and fault tests: started in a session of its own, owned by the test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from corral.server import free_port

from owned_processes import OutputWatcher, ProcessGroup

CORRAL_COMMAND = str(Path(sys.executable).parent / "corral")
OWNER = "owner@example.com"
PASSWORD = "a-long-owner-password-for-tests"


def user_environment(**settings: str) -> dict[str, str]:
    """The test run's environment without any CORRAL_* setting, plus the owner's password and `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update(CORRAL_OWNER_PASSWORD=PASSWORD, **settings)
    return env


class CorralUp:
    """`corral up` on a free port with a data directory, its stderr watched line by line."""

    def __init__(self, processes: ProcessGroup, data_dir: Path, *, healthy: bool = True, **settings: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = user_environment(CORRAL_PORT=str(self.port), CORRAL_DATA_DIR=str(data_dir), **settings)
        self.process = processes.spawn([CORRAL_COMMAND, "up"], env=self.env, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        self.output = OutputWatcher(self.process.stderr)
        if healthy:
            self.wait_until_healthy()

    def wait_until_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"corral up is not healthy (exit {self.process.poll()}):\n{self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.output.text()[-6_000:]

    def owner(self) -> httpx.Client:
        """A client signed in as the first owner, sending the CSRF header on every request."""
        client = httpx.Client(base_url=self.base, timeout=30)
        login = client.post("/auth/login", json={"email": OWNER, "password": PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        return client

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Another `corral` command against the same data directory (it finds the embedded server there)."""
        env = {key: value for key, value in self.env.items() if key != "CORRAL_PORT"}
        return subprocess.run([CORRAL_COMMAND, *args], env=env, capture_output=True, text=True, timeout=timeout)


def wait_for_job(client: httpx.Client, queue: str, job_id: str, state: str = "completed", timeout: float = 120) -> Any:
    """Poll the API until the job reaches `state`; returns the job."""
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"/owner/queues/{queue}/jobs/{job_id}")
        if answer.status_code == 200 and answer.json()["state"] == state:
            return answer.json()
        assert time.monotonic() < deadline, f"job {job_id} is not {state}: {answer.status_code} {answer.text}"
        time.sleep(0.2)
