"""Runs a plugin hook in a subprocess with a time limit and a memory limit; kills it past either."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from corral.errors import JobFailure, UnrecoverableJobError

logger = logging.getLogger(__name__)

MAX_RESULT_BYTES = 1_048_576
STARTUP_SECONDS = 30.0
"""Time the host gets to start Python and import the plugin, before the hook's own time limit starts."""
EXIT_GRACE_SECONDS = 5.0
STDERR_TAIL_BYTES = 4_096
UNRECOVERABLE_KINDS = frozenset({"unknown-plugin", "unknown-hook", "load-error", "bad-result"})


@dataclass(frozen=True)
class PluginRun:
    """The outcome of a successful hook call."""

    plugin_id: str
    hook: str
    result: Any
    duration_ms: int


class PluginRunner:
    """Starts `python -m corral_reference.plugins.host` per call; the hook's failure fails the job."""

    def __init__(self, memory_mb: int, python: str = sys.executable) -> None:
        self.memory_mb = memory_mb
        self.python = python

    async def run(self, plugin_id: str, hook: str, payload: dict[str, Any], timeout_ms: int) -> PluginRun:
        """Call `hook` of `plugin_id` with `payload`; raises JobFailure or UnrecoverableJobError when it fails."""
        label = f"plugin {plugin_id!r} hook {hook!r}"
        process = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "corral_reference.plugins.host",
            "--memory-mb",
            str(self.memory_mb),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: killing it also kills anything it spawned
            env={name: value for name, value in os.environ.items() if not name.startswith("CORRAL_")},
            limit=MAX_RESULT_BYTES + 1,
        )
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        stderr_tail = asyncio.create_task(_tail(process.stderr))
        duration_ms = 0
        try:
            request = {"plugin": plugin_id, "hook": hook, "payload": payload}
            process.stdin.write(json.dumps(request).encode())
            await process.stdin.drain()
            process.stdin.close()
            try:
                outcome = await _read_line(process.stdout, STARTUP_SECONDS, label)
            except TimeoutError:
                raise JobFailure(f"{label} did not start within {STARTUP_SECONDS:g} s and was killed") from None
            if outcome.get("event") == "ready":
                started = time.monotonic()
                try:
                    outcome = await _read_line(process.stdout, timeout_ms / 1000, label)
                except TimeoutError:
                    raise JobFailure(f"{label} exceeded its time limit of {timeout_ms} ms and was killed") from None
                duration_ms = int((time.monotonic() - started) * 1000)
        except _HostDied:
            await process.wait()
            _kill_group(process)  # anything the plugin spawned may still hold stderr open
            raise self._crash(label, process.returncode, await stderr_tail) from None
        finally:
            _kill_group(process)
            await process.wait()
            stderr_tail.cancel()
        if outcome.get("ok") is True:
            logger.info("%s completed in %d ms", label, duration_ms)
            return PluginRun(plugin_id, hook, outcome.get("result"), duration_ms)
        raise self._failure(label, outcome)

    def _failure(self, label: str, outcome: dict[str, Any]) -> JobFailure:
        kind, message = str(outcome.get("kind")), str(outcome.get("message"))
        if kind == "memory":
            return JobFailure(f"{label} exceeded its memory limit of {self.memory_mb} MB and was stopped")
        if kind in UNRECOVERABLE_KINDS:
            return UnrecoverableJobError(message if kind.startswith("unknown") else f"{label}: {message}")
        text = f"{label} failed: {message}"
        return UnrecoverableJobError(text) if outcome.get("unrecoverable") is True else JobFailure(text)

    def _crash(self, label: str, returncode: int | None, stderr: bytes) -> JobFailure:
        last_line = next((line for line in reversed(stderr.decode("utf-8", "replace").splitlines()) if line), "")
        if "MemoryError" in last_line:
            return JobFailure(f"{label} exceeded its memory limit of {self.memory_mb} MB and was stopped")
        if returncode is not None and returncode < 0:
            how = f"was killed by {signal.Signals(-returncode).name}"
        else:
            how = f"exited with code {returncode}"
        return JobFailure(f"{label} {how} before answering" + (f": {last_line[:500]}" if last_line else ""))


class _HostDied(Exception):
    """The host closed its output without a complete answer."""


async def _read_line(stream: asyncio.StreamReader, timeout: float, label: str) -> dict[str, Any]:
    """The next protocol line of the host; raises TimeoutError, or _HostDied when it ended without one."""
    try:
        async with asyncio.timeout(timeout):
            line = await stream.readline()
    except ValueError:  # the line is longer than the stream's limit
        raise UnrecoverableJobError(f"{label} returned more than {MAX_RESULT_BYTES} bytes") from None
    try:
        document = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise _HostDied()
    return document


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """Drain a stream (so the child never blocks on a full pipe), keeping its last few kilobytes."""
    kept = b""
    while chunk := await stream.read(65_536):
        kept = (kept + chunk)[-STDERR_TAIL_BYTES:]
    return kept


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the host's process group: the host if still running, and anything the plugin spawned."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
