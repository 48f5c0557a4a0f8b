"""Test plugins: one well-behaved, one that raises, one that never returns, one that eats memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class EchoPlugin:
    """Well-behaved: returns what it was given, transformed, and prints to stdout without harm."""

    def shout(self, payload: dict[str, Any]) -> dict[str, Any]:
        print("this line goes to stderr, not into the result")  # noqa: T201 - proves prints cannot corrupt results
        return {"text": str(payload.get("text", "")).upper(), "pid": os.getpid()}

    async def word_count(self, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"words": len(str(payload.get("text", "")).split())}

    def not_json(self, payload: dict[str, Any]) -> Any:
        return {"when": object()}


class RefusedInput(ValueError):
    """An error the plugin marks as permanent: retrying cannot help."""

    unrecoverable = True


class FailingPlugin:
    """Raises: a transient-looking error, or one marked unrecoverable."""

    def explode(self, payload: dict[str, Any]) -> None:
        raise ValueError(f"cannot handle {payload.get('item', 'this')}")

    def refuse(self, payload: dict[str, Any]) -> None:
        raise RefusedInput("input refused for good")


class RunawayPlugin:
    """Never returns; records its pid (and a child's) so a test can check they were killed."""

    def spin(self, payload: dict[str, Any]) -> None:
        pid_file = payload.get("pidFile")
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        if pid_file:
            Path(pid_file).write_text(f"{os.getpid()} {child.pid}")
        while True:
            time.sleep(0.01)


class MemoryHogPlugin:
    """Allocates memory in 16 MB steps until it fails, up to 2 GB."""

    def allocate(self, payload: dict[str, Any]) -> dict[str, Any]:
        blocks = []
        for _ in range(128):
            blocks.append(bytearray(16 * 1024 * 1024))
        return {"allocatedMb": 16 * len(blocks)}
