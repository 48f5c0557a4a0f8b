"""`corral worker` running a user's handler that logs, quotes and returns its payload's secret: the worker's stderr
and every command's output hold the mask, never the value, while the handler works with the real one."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from corral.contracts.secrets import MASK
from corral.logredact import REDACTED

from corral_up import CORRAL_COMMAND, user_environment
from owned_processes import OutputWatcher, ProcessGroup

SECRET = "tok-Zr82-never-logged"

SERVICE = """
import json
import logging
from typing import Annotated

from corral import Corral, JobContext, JobContract, JobFailure, QueueConfig, Secret

app = Corral("vault-service")
app.add_queue(QueueConfig("vault", concurrency=2, attempts=2, backoff_ms=10))
logger = logging.getLogger("vault.jobs")


class Rotate(JobContract):
    keyId: str
    token: Annotated[str, Secret()]


@app.job("vault.rotate", queue="vault")
async def rotate(ctx: JobContext, payload: Rotate) -> dict:
    logger.info("rotating %s with token %s", payload.keyId, payload.token)
    logger.warning("payload as sent: %s", json.dumps(payload.model_dump()))
    await ctx.log(f"token {payload.token} in use")
    if payload.keyId == "broken":
        raise JobFailure(f"vault refused {payload.model_dump()}")
    return {"rotated": payload.keyId, "length": len(payload.token), "echo": payload.token}
"""


def corral(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CORRAL_COMMAND, *args], env=env, capture_output=True, text=True, timeout=120)


def wait_until(condition, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)
    return result


def test_a_workers_log_and_the_commands_output_never_hold_a_secret(
    tmp_path: Path, processes: ProcessGroup, valkey_url: str
) -> None:
    # Given a user's module whose handler logs its secret, quotes it in a failure and returns it,
    code = tmp_path / "code"
    code.mkdir()
    (code / "vault.py").write_text(SERVICE, encoding="utf-8")
    path = os.pathsep.join(part for part in (str(code), os.environ.get("PYTHONPATH", "")) if part)
    env = user_environment(
        CORRAL_REDIS_URL=valkey_url,
        CORRAL_KEY_PREFIX=os.environ["CORRAL_KEY_PREFIX"],
        CORRAL_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=path,
    )
    app = ["--app", "vault:app"]
    # and `corral worker` running it with debug logging
    worker = processes.spawn([CORRAL_COMMAND, *app, "worker", "--verbose"], env=env, stderr=subprocess.PIPE, text=True)
    assert worker.stderr is not None
    output = OutputWatcher(worker.stderr)
    output.wait_for("worker runtime consuming vault", timeout=120)
    # When one job completes and one fails twice (a retry, then for good)
    enqueued = [
        corral(env, *app, "enqueue", "vault.rotate", "--data", json.dumps({"keyId": key, "token": SECRET}))
        for key in ("k-1", "broken")
    ]
    assert all(done.returncode == 0 for done in enqueued), [done.stderr for done in enqueued]

    def finished() -> bool:
        counts = json.loads(corral(env, *app, "queues", "--json").stdout)["queues"]["vault"]
        return bool(counts["completed"] == 1 and counts["failed"] == 1)

    wait_until(finished)
    entries = corral(env, *app, "dlq", "list", "--json")
    shown = corral(env, *app, "dlq", "show", json.loads(entries.stdout)["items"][0]["id"])
    assert processes.stop(worker) == 0
    log = output.text()
    # Then the handler ran with the real secret (its length), and the failure reason shows the mask
    assert f"'token': '{MASK}'" in json.loads(entries.stdout)["items"][0]["failed_reason"]
    assert MASK in shown.stdout
    # And the worker's log has the handler's lines with the secret redacted, on both attempts and the good job
    assert log.count(f"rotating k-1 with token {REDACTED}") == 1
    assert log.count(f"rotating broken with token {REDACTED}") == 2
    assert f'"token": "{REDACTED}"' in log
    # And no output of the worker or of any command holds the secret
    for text in (log, entries.stdout, shown.stdout, *(done.stdout + done.stderr for done in enqueued)):
        assert SECRET not in text
