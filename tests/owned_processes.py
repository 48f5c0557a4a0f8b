"""Processes a test starts are the test's: found by an inherited tag, killed with their groups, reported if left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

# Not a CORRAL_* name: tests that start `corral` with a clean environment drop those, but keep this one.
TAG_VARIABLE = "PYTEST_OWNER_TAG"


def tagged_processes(tag: str, working_under: Path | None = None) -> list[int]:
    """Pids of live (not zombie) processes, except this one, whose environment carries `TAG_VARIABLE=tag`, or
    whose working directory is inside `working_under`.

    The second test is for servers such as Valkey, which overwrite their environment with their process title.
    """
    marker = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if marker in environ.split(b"\0") or (working_under is not None and _works_under(entry, working_under)):
            found.append(int(entry.name))
    return found


def _works_under(entry: Path, directory: Path) -> bool:
    try:
        return Path(os.readlink(entry / "cwd")).is_relative_to(directory)
    except OSError:
        return False


def describe(pid: int) -> str:
    """`pid: command line`, for a report."""
    try:
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        command = "?"
    return f"{pid}: {command.strip()[:200]}"


def kill_all(pids: Sequence[int]) -> None:
    """SIGKILL each process and, when it leads a group other than the test run's own, its whole group."""
    own_group = os.getpgrp()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def leftovers(tag: str, grace_seconds: float, working_under: Path | None = None) -> list[str]:
    """Wait up to `grace_seconds` for the test's processes to exit; kill and describe those still alive."""
    deadline = time.monotonic() + grace_seconds
    while (alive := tagged_processes(tag, working_under)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not alive:
        return []
    described = [describe(pid) for pid in alive]
    kill_all(alive)
    return described


class ProcessGroup:
    """Subprocesses of one test, each in a session of its own, all stopped (group and all) when the test ends."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[Any]] = []

    def spawn(self, args: Sequence[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start a process in a new session (so its children can be killed with it) and own it."""
        process: subprocess.Popen[Any] = subprocess.Popen(list(args), start_new_session=True, **popen)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[Any], grace_seconds: float = 10.0) -> int:
        """SIGTERM the process, wait up to `grace_seconds`, then SIGKILL its group; returns its exit code."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                pass
        self.kill(process)
        return process.returncode

    def kill(self, process: subprocess.Popen[Any]) -> None:
        """SIGKILL the process's whole group at once and reap the process."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()

    def close(self) -> None:
        """Kill every process still running, with its group; never waits on a graceful stop."""
        for process in self.processes:
            self.kill(process)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self.processes.clear()


class OutputWatcher:
    """Drains a process's text stream in a thread (so it never blocks on a full pipe) and waits for a line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first line containing `text`; fails after `timeout` seconds with what the process printed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    break
                self._changed.wait(min(remaining, 0.5))
        tail = "\n".join(self.lines[-30:])
        raise AssertionError(f"no line with {text!r} within {timeout:g}s; the process printed:\n{tail}")

    def text(self) -> str:
        """Everything read so far."""
        with self._changed:
            return "\n".join(self.lines)
