"""Process lifetimes: one `corral up` per data directory, children that die with the process that started them, and
background loops that wait for their stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from corral.errors import DataDirectoryInUseError

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


async def set_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `event`; whether it is set.

    `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 wait_for loses a cancel that arrives as the event is
    set, and a loop cancelled so goes on forever.
    """
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def end_task(task: asyncio.Task[Any], wait_seconds: float, cancel_wait_seconds: float = 5.0) -> bool:
    """Wait up to `wait_seconds` for a task that was asked to stop, then cancel it and wait `cancel_wait_seconds` more.

    Every wait is bounded: a cancel can be lost inside a Redis call (Python 3.11), and a close that awaited the
    task unbounded then waited forever. A task still running after both waits is left behind with a warning.
    Returns whether it ended.
    """
    done, _ = await asyncio.wait({task}, timeout=wait_seconds)
    if not done:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=cancel_wait_seconds)
    if not done:
        name = task.get_name()
        logger.warning("%s did not stop within %.0fs of being cancelled; left behind", name, cancel_wait_seconds)
        return False
    if not task.cancelled() and task.exception() is not None:
        logger.warning("%s ended with %r", task.get_name(), task.exception())
    return True


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive `signum` when its parent dies (Linux); None elsewhere.

    The child checks, after asking, that its parent is still the process that forked it: a parent that died in
    between would otherwise leave it running forever.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    parent = os.getpid()

    def arrange() -> None:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            os._exit(70)
        if os.getppid() != parent:
            os._exit(70)

    return arrange


class DataDirectoryLock:
    """An exclusive lock on a data directory, held by the `corral up` that owns its embedded server.

    The kernel drops the lock when the holder dies, however it dies, so a lock that can be taken means no live
    owner; the file also records the holder's pid for the message a second `corral up` prints.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "run" / "lock"
        self._file: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirectoryInUseError naming the live owner."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise DataDirectoryInUseError(
                f"the data directory {self.path.parents[1]} is in use by another `corral up` (pid {holder}); "
                "stop it first, or give this one another CORRAL_DATA_DIR"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._file = descriptor

    def release(self) -> None:
        """Let the data directory go (the file stays; only the kernel lock matters)."""
        descriptor, self._file = self._file, None
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
            os.close(descriptor)

    def __enter__(self) -> DataDirectoryLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
