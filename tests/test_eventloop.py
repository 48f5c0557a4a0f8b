"""The worker's event loop: uvloop by default where it is installed, the standard loop on request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import uvloop

from corral import eventloop

from corral_up import CORRAL_COMMAND, user_environment
from owned_processes import OutputWatcher, ProcessGroup

SERVICE = """
import asyncio
from pathlib import Path

from corral import Corral, JobContext, JobContract, QueueConfig

app = Corral("loop-service")
app.add_queue(QueueConfig("loops", concurrency=2))


class Report(JobContract):
    path: str


@app.job("loops.report", queue="loops")
async def report(ctx: JobContext, payload: Report) -> None:
    Path(payload.path).write_text(type(asyncio.get_running_loop()).__module__.split(".")[0], encoding="utf-8")
"""


async def _running_loop() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_auto_and_uvloop_run_on_uvloop_and_asyncio_on_the_standard_loop() -> None:
    assert eventloop.loop_name("auto") == "uvloop"
    assert eventloop.run(_running_loop(), "auto") is uvloop.Loop
    assert eventloop.run(_running_loop(), "uvloop") is uvloop.Loop
    assert eventloop.loop_name("asyncio") == "asyncio"
    assert not issubclass(eventloop.run(_running_loop(), "asyncio"), uvloop.Loop)


@pytest.mark.parametrize(("setting", "expected"), [(None, "uvloop"), ("asyncio", "asyncio")])
def test_corral_worker_runs_its_jobs_on_the_chosen_loop(
    tmp_path: Path, processes: ProcessGroup, valkey_url: str, setting: str | None, expected: str
) -> None:
    # Given a user's service whose handler writes down the loop it runs on, and `corral worker` with the setting
    code = tmp_path / "code"
    code.mkdir()
    (code / "loops.py").write_text(SERVICE, encoding="utf-8")
    settings = {"CORRAL_WORKER_EVENT_LOOP": setting} if setting else {}
    env = user_environment(
        CORRAL_REDIS_URL=valkey_url,
        CORRAL_KEY_PREFIX=os.environ["CORRAL_KEY_PREFIX"],
        CORRAL_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=os.pathsep.join(part for part in (str(code), os.environ.get("PYTHONPATH", "")) if part),
        **settings,
    )
    app = ["--app", "loops:app"]
    worker = processes.spawn([CORRAL_COMMAND, *app, "worker"], env=env, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    output = OutputWatcher(worker.stderr)
    output.wait_for("worker runtime consuming loops", timeout=120)
    # When a job is enqueued
    report = tmp_path / "loop.txt"
    enqueued = subprocess.run(
        [CORRAL_COMMAND, *app, "enqueue", "loops.report", "--data", json.dumps({"path": str(report)})],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert enqueued.returncode == 0, enqueued.stderr
    deadline = time.monotonic() + 120
    while not report.exists():
        assert time.monotonic() < deadline, f"the job never ran: {output.text()[-2_000:]}"
        time.sleep(0.2)
    assert processes.stop(worker) == 0
    # Then the handler ran on that loop, and the worker said which loop it runs
    assert report.read_text(encoding="utf-8") == expected
    assert f"worker event loop: {expected}" in output.text()


def test_an_unknown_loop_is_a_clear_error(tmp_path: Path) -> None:
    env = user_environment(CORRAL_DATA_DIR=str(tmp_path), CORRAL_WORKER_EVENT_LOOP="fast")
    done = subprocess.run([CORRAL_COMMAND, "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "worker_event_loop" in done.stderr
    assert "Traceback" not in done.stderr
