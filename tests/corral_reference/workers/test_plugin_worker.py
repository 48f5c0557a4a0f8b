"""The plugin-execute worker running the installed test plugins (tests/plugins) in limited subprocesses."""

from __future__ import annotations

import os
import time

import pytest

from corral.dlq.store import DeadLetterStore
from corral.producer import Producer
from corral_reference.plugins.interface import installed_plugins
from corral_reference.plugins.runner import PluginRunner
from corral_reference.workers import plugin_execute

from reference_peers.messaging_peers import ServicesFactory, fast_registry, finished_job, handlers_of
from support import eventually

# Under CI the test plugins must be installed (the Makefile does it); elsewhere their absence skips these tests.
pytestmark = pytest.mark.skipif(
    "test-echo" not in installed_plugins() and not os.environ.get("CI"),
    reason="install the test plugins: pip install -e tests/plugins",
)


@pytest.fixture
async def make_services(settings, redis_client, engine):
    factory = ServicesFactory(settings, redis_client, engine)
    yield factory.make
    await factory.close()


async def run_plugin_job(make_services, start_runtime, engine, payload, *, attempts=2, **overrides):
    registry = fast_registry("plugins", attempts=attempts)
    services = make_services(**overrides)
    await start_runtime(registry, handlers_of(services, plugin_execute.register), queues=["plugins"])
    job_id = await Producer(engine, registry).enqueue("plugin.execute", payload)
    return await finished_job(engine, "plugins", job_id, timeout=60)


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead too
        return stat.read().split(")")[-1].split()[0] != "Z"


async def test_well_behaved_plugin_result_becomes_the_job_result(make_services, start_runtime, engine) -> None:
    # Given the installed test-echo plugin
    # When its `shout` hook runs (it also prints to stdout)
    job = await run_plugin_job(
        make_services, start_runtime, engine, {"pluginId": "test-echo", "hook": "shout", "payload": {"text": "hi"}}
    )
    # Then the job completed with the hook's JSON result, computed in another process
    assert job.state == "completed", job.failed_reason
    result = job.return_value
    assert (result["pluginId"], result["hook"]) == ("test-echo", "shout")
    assert result["result"]["text"] == "HI"
    assert result["result"]["pid"] != os.getpid()
    assert result["durationMs"] >= 0


async def test_async_hook_with_a_dotted_name() -> None:
    # Given an async hook called through its dotted name
    runner = PluginRunner(memory_mb=256)
    # When it runs
    run = await runner.run("test-echo", "word.count", {"text": "one two three"}, timeout_ms=5_000)
    # Then the awaited result comes back
    assert run.result == {"words": 3}


async def test_plugin_error_message_becomes_the_failure_reason(
    make_services, start_runtime, engine, redis_client, keys
) -> None:
    # Given a plugin hook that raises ValueError
    # When it runs with two attempts
    job = await run_plugin_job(
        make_services,
        start_runtime,
        engine,
        {"pluginId": "test-failing", "hook": "explode", "payload": {"item": "order 17"}},
    )
    # Then both attempts failed and the plugin's message is the failure reason, also in the DLQ
    assert job.state == "failed"
    assert job.attempts_made == 2
    reason = "plugin 'test-failing' hook 'explode' failed: ValueError: cannot handle order 17"
    assert job.failed_reason == reason
    dlq = DeadLetterStore(redis_client, keys)
    assert [entry.failed_reason for entry in await eventually(dlq.recent)] == [reason]


async def test_plugin_error_marked_unrecoverable_is_not_retried(make_services, start_runtime, engine) -> None:
    # Given a plugin error with a true `unrecoverable` attribute
    job = await run_plugin_job(
        make_services, start_runtime, engine, {"pluginId": "test-failing", "hook": "refuse"}, attempts=3
    )
    # Then the job failed once
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert job.failed_reason.endswith("RefusedInput: input refused for good")


async def test_runaway_plugin_is_killed_at_its_time_limit(make_services, start_runtime, engine, tmp_path) -> None:
    # Given a plugin hook that never returns and spawns a child process
    pid_file = tmp_path / "pids"
    started = time.monotonic()
    # When it runs with a 500 ms time limit and one attempt
    job = await run_plugin_job(
        make_services,
        start_runtime,
        engine,
        {"pluginId": "test-runaway", "hook": "spin", "payload": {"pidFile": str(pid_file)}, "timeoutMs": 500},
        attempts=1,
    )
    # Then the job failed soon after the limit, saying why
    assert job.state == "failed"
    assert job.failed_reason == "plugin 'test-runaway' hook 'spin' exceeded its time limit of 500 ms and was killed"
    assert time.monotonic() - started < 10
    # And the plugin process and the process it spawned are gone
    host_pid, child_pid = (int(pid) for pid in pid_file.read_text().split())
    assert not is_running(host_pid)
    deadline = time.monotonic() + 60
    while is_running(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_running(child_pid)


async def test_memory_hungry_plugin_is_stopped_at_its_memory_limit(make_services, start_runtime, engine) -> None:
    # Given a plugin that allocates up to 2 GB and a 128 MB memory limit
    # When it runs
    job = await run_plugin_job(
        make_services,
        start_runtime,
        engine,
        {"pluginId": "test-memory-hog", "hook": "allocate", "timeoutMs": 20_000},
        attempts=1,
        plugin_memory_mb=128,
    )
    # Then it failed on the memory limit, not the time limit
    assert job.state == "failed"
    assert (
        job.failed_reason
        == "plugin 'test-memory-hog' hook 'allocate' exceeded its memory limit of 128 MB and was stopped"
    )


async def test_the_memory_limit_leaves_room_for_a_normal_plugin() -> None:
    # Given the same 128 MB limit
    runner = PluginRunner(memory_mb=128)
    # When a well-behaved hook runs
    run = await runner.run("test-echo", "shout", {"text": "ok"}, timeout_ms=5_000)
    # Then it completes
    assert run.result["text"] == "OK"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"pluginId": "not-installed", "hook": "run"}, "no plugin 'not-installed' is installed"),
        ({"pluginId": "test-echo", "hook": "missing"}, "plugin 'test-echo' has no hook 'missing'"),
        ({"pluginId": "test-echo", "hook": "not-json"}, "the hook returned a value that is not JSON"),
        ({"pluginId": "test-broken", "hook": "run"}, "RuntimeError: this plugin cannot be imported"),
    ],
)
async def test_plugin_that_cannot_run_goes_to_the_dlq_at_once(
    make_services, start_runtime, engine, payload, reason
) -> None:
    # Given a job naming a plugin or hook that cannot run
    # When it runs with three attempts
    job = await run_plugin_job(make_services, start_runtime, engine, payload, attempts=3)
    # Then it failed once, unrecoverably, saying why
    assert job.state == "failed"
    assert job.attempts_made == 1
    assert reason in job.failed_reason
