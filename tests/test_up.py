"""The README's first command as a user types it: `corral up` with the defaults, and `make run` from a fresh clone.

No `CORRAL_*` setting is given but a free port and the first owner's password, so the data directory is the
relative default `./.corral` of the directory the command runs in.
"""

from __future__ import annotations

import mailbox
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from corral.server import free_port

from owned_processes import TAG_VARIABLE, OutputWatcher, ProcessGroup, tagged_processes

CHECKOUT = Path(__file__).resolve().parents[1]
CORRAL_COMMAND = str(Path(sys.executable).parent / "corral")
PASSWORD = "a-long-owner-password-for-tests"


def user_environment(port: int) -> dict[str, str]:
    """The test run's environment without any CORRAL_* setting, plus the port and the owner's password."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update(CORRAL_PORT=str(port), CORRAL_OWNER_PASSWORD=PASSWORD)
    return env


def wait_until_healthy(base: str, process: subprocess.Popen[str], output: OutputWatcher, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"Corral did not come up (exit {process.poll()}):\n{output.text()[-4_000:]}")
        time.sleep(0.2)


def run_one_job_as_the_owner(base: str) -> None:
    """Sign in as the first owner, enqueue a mail through the API and wait until a worker has delivered it."""
    with httpx.Client(base_url=base, timeout=30) as client:
        login = client.post("/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
        assert login.status_code == 200, login.text
        job = {"name": "email.send", "payload": {"to": ["reader@example.com"], "subject": "Hello", "text": "Hi."}}
        created = client.post("/owner/jobs", json=job, headers={"X-CSRF-Token": login.json()["csrf_token"]})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + 120
        while (state := client.get(f"/owner/queues/email/jobs/{job_id}").json()["state"]) != "completed":
            assert state in {"waiting", "active", "delayed", "prioritized"}, state
            assert time.monotonic() < deadline, f"the job is still {state}"
            time.sleep(0.2)


def stop_with_ctrl_c(
    process: subprocess.Popen[str], output: OutputWatcher, directory: Path, *, under_make: bool = False
) -> None:
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group; Corral must stop cleanly, leaving nothing.

    Under make, make itself reports the interrupt and exits by the signal, so Corral's own last line is the proof.
    """
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=120)
    if under_make:
        output.wait_for("embedded Valkey stopped; data kept in", timeout=30)
    else:
        assert code == 0, output.text()[-4_000:]
    tag = os.environ[TAG_VARIABLE]
    deadline = time.monotonic() + 30
    while alive := tagged_processes(tag, directory):
        assert time.monotonic() < deadline, f"still running after Corral stopped: {alive}"
        time.sleep(0.1)


@pytest.mark.timeout(300)
def test_corral_up_with_the_defaults_in_a_fresh_directory(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given a fresh directory and no setting but a port and the owner's password
    port = free_port()
    up = processes.spawn(
        [CORRAL_COMMAND, "up"], cwd=tmp_path, env=user_environment(port), stderr=subprocess.PIPE, text=True
    )
    assert up.stderr is not None
    output = OutputWatcher(up.stderr)
    base = f"http://127.0.0.1:{port}"
    # When `corral up` is run there
    wait_until_healthy(base, up, output, timeout=120)
    # Then the owner signs in and a job enqueued through the API is run by a worker
    run_one_job_as_the_owner(base)
    # And everything lives in ./.corral of that directory: the store, the embedded server's files, the mail sent
    data = tmp_path / ".corral"
    assert (data / "corral.db").is_file()
    assert (data / "valkey" / "appendonlydir").is_dir()
    assert len(mailbox.Maildir(data / "outbox", create=False)) == 1
    # And the other commands find the running server from the same directory
    queues = subprocess.run(
        [CORRAL_COMMAND, "queues", "--json"], cwd=tmp_path, env=user_environment(port), capture_output=True, text=True
    )
    assert queues.returncode == 0, queues.stderr
    assert '"completed": 1' in queues.stdout
    # When Ctrl-C reaches it, then it stops the workers, the API and the embedded Valkey and leaves nothing behind
    stop_with_ctrl_c(up, output, tmp_path)
    assert not (data / "run" / "redis-url").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_make_run_from_a_fresh_clone(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given a fresh copy of the checkout's files (what a clone holds: tracked and new files, nothing ignored)
    clone = tmp_path / "corral"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=CHECKOUT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = CHECKOUT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    # When `make run` is typed there, with only a port and the owner's password set
    port = free_port()
    env = user_environment(port)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    up = processes.spawn(
        ["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert up.stdout is not None
    output = OutputWatcher(up.stdout)
    base = f"http://127.0.0.1:{port}"
    # Then it sets up its own environment, comes up, and runs the owner's job
    wait_until_healthy(base, up, output, timeout=720)
    assert (clone / ".venv" / "bin" / "corral").exists()
    run_one_job_as_the_owner(base)
    # And Ctrl-C stops it all
    stop_with_ctrl_c(up, output, tmp_path, under_make=True)
