"""`corral monitoring stats|health|workers|alerts` against the real Valkey, with real jobs and a heartbeat."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from redis.asyncio import Redis
from typer.testing import CliRunner

from corral.cli import app
from corral.engine import Engine
from corral.keys import Keys
from corral.monitoring import Monitoring
from corral.monitoring.workers import Heartbeat
from corral.producer import Producer
from corral.settings import Settings
from corral_reference.contracts import default_registry

EMAIL = {"to": ["a@example.com"], "subject": "Hello", "text": "Hi"}


def seed(valkey_url: str, settings: Settings) -> int:
    """Two waiting emails, a live worker on `system`, and an evaluated no-workers alert; returns the worker's pid."""

    async def run() -> int:
        keys = Keys(settings.key_prefix)
        redis = Redis.from_url(valkey_url, decode_responses=True)
        engine = Engine(valkey_url, keys)
        try:
            producer = Producer(engine, default_registry())
            await producer.enqueue("email.send", EMAIL)
            await producer.enqueue("email.send", EMAIL)
            monitoring = Monitoring.build(settings, redis, keys, engine, default_registry())
            heartbeat = Heartbeat(
                monitoring.workers,
                monitoring.bus,
                queues=["system"],
                concurrency=5,
                interval_seconds=60,
                measure=lambda: (0, 7, 1),
            )
            await heartbeat.beat()
            await monitoring.evaluator().evaluate()
            return heartbeat.state.pid
        finally:
            await engine.close()
            await redis.aclose()

    return asyncio.run(run())


def cli(valkey_url: str, data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {key: None for key in os.environ if key.startswith("CORRAL_")}
    env.update(
        {
            "CORRAL_REDIS_URL": valkey_url,
            "CORRAL_DATA_DIR": str(data_dir),
            "CORRAL_KEY_PREFIX": os.environ["CORRAL_KEY_PREFIX"],
        }
    )
    result = CliRunner().invoke(app, ["monitoring", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_monitoring_commands_show_stats_health_workers_and_alerts(valkey_url, settings) -> None:
    # Given two emails waiting with no worker on their queue, and a worker heartbeating on `system`
    pid = seed(valkey_url, settings)
    data_dir = settings.data_dir
    # When the stats are asked for as JSON, then they count the waiting emails
    code, stdout, _ = cli(valkey_url, data_dir, "stats", "--json")
    assert code == 0
    stats = json.loads(stdout)
    email = next(q for q in stats["queues"] if q["name"] == "email")
    assert email["counts"]["waiting"] == 2 and stats["dlq"] == 0
    # And the table lists every queue
    code, stdout, _ = cli(valkey_url, data_dir, "stats")
    assert code == 0 and "email" in stdout and "waiting-children" in stdout and "dead-letter queue: 0" in stdout
    # When health is asked for, then it is critical (exit 1) and says why and what to do
    code, stdout, _ = cli(valkey_url, data_dir, "health")
    assert code == 1
    assert "overall: critical (60/100)" in stdout
    assert "2 jobs wait in email and no live worker consumes it" in stdout
    assert "evidence: backlog=2, live_workers=0" in stdout and "corral worker --queue email" in stdout
    # When the workers are listed, then the heartbeating one shows with its counts
    code, stdout, _ = cli(valkey_url, data_dir, "workers", "--json")
    assert code == 0
    [worker] = json.loads(stdout)
    assert (worker["pid"], worker["status"], worker["processed"], worker["failed"]) == (pid, "live", 7, 1)
    code, stdout, _ = cli(valkey_url, data_dir, "workers")
    assert code == 0 and str(pid) in stdout and "live" in stdout
    # When the alerts are listed with their history, then the fired alert shows
    code, stdout, _ = cli(valkey_url, data_dir, "alerts", "--history", "5")
    assert code == 0
    assert "critical #1 2 jobs wait in email" in stdout and "fired" in stdout


def test_monitoring_commands_explain_a_missing_server(tmp_path) -> None:
    # Given no server configured and none announced, when stats are asked for
    env = {key: None for key in os.environ if key.startswith("CORRAL_")}
    env["CORRAL_DATA_DIR"] = str(tmp_path)
    result = CliRunner().invoke(app, ["monitoring", "stats"], env=env)
    # Then the command says so in one line, without a traceback
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no Redis/Valkey server") and "Traceback" not in result.output
