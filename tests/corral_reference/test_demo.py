"""`corral demo`: a realistic, valid mix of all nineteen job types, some built to fail."""

from __future__ import annotations

import json
import random

from typer.testing import CliRunner

from corral.cli import app
from corral_reference.contracts import default_registry
from corral_reference.demo import FAILING, demo_jobs


def test_demo_jobs_are_valid_and_cover_the_catalogue() -> None:
    # Given the demo generator with a 30 % failure rate
    registry = default_registry()
    jobs = demo_jobs(random.Random(7), failure_rate=0.3)
    # When thousands of jobs are drawn
    drawn = [next(jobs) for _ in range(3_000)]
    # Then every one passes its contract and all 19 job types appear
    for item in drawn:
        registry.validate(item.name, item.payload)
    assert {item.name for item in drawn} == set(registry.jobs)
    # And failing jobs appear about as often as asked
    doomed = sum(1 for item in drawn if item.name in FAILING and _doomed(item.payload))
    assert 0.2 < doomed / len(drawn) < 0.4


def _doomed(payload: dict) -> bool:
    text = json.dumps(payload)
    return ".invalid" in text or '"pluginId": "thumbnails"' in text or '"articleId": "draft-' in text


def test_demo_command_enqueues_at_the_asked_rate(tmp_path, valkey_url) -> None:
    # When the demo runs for 1.5 s at 100 jobs/s against the session's Valkey
    result = CliRunner().invoke(
        app,
        ["demo", "--rate", "100", "--duration", "1.5", "--failure-rate", "0.2", "--seed", "3"],
        env={"CORRAL_REDIS_URL": valkey_url, "CORRAL_DATA_DIR": str(tmp_path)},
    )
    # Then it reports what it enqueued, and the queues hold that many jobs
    assert result.exit_code == 0, result.output
    queues = CliRunner().invoke(
        app, ["queues", "--json"], env={"CORRAL_REDIS_URL": valkey_url, "CORRAL_DATA_DIR": str(tmp_path)}
    )
    total = sum(sum(counts.values()) for counts in json.loads(queues.output)["queues"].values())
    assert 120 <= total <= 160
    assert f"Demo: {total} jobs enqueued" in result.output
