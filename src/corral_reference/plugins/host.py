"""The plugin host: runs one hook of one plugin inside a subprocess under an address-space limit.

Started by `PluginRunner` as `python -m corral_reference.plugins.host --memory-mb N`. It reads one JSON request
(`plugin`, `hook`, `payload`) from stdin and writes JSON lines to its original stdout: `{"event": "ready"}`
once the hook is loaded, then the outcome (`{"ok": true, "result": ...}` or `{"ok": false, "kind": ...,
"message": ...}`). The plugin's own prints go to stderr, so they cannot corrupt the protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import resource
import sys
from typing import Any, TextIO

from corral_reference.plugins.interface import PluginLoadError, load_hook

MAX_MESSAGE_CHARS = 2_000


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space at `megabytes` (never above an existing hard limit)."""
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _emit(channel: TextIO, document: dict[str, Any]) -> None:
    channel.write(json.dumps(document, allow_nan=False, separators=(",", ":")) + "\n")
    channel.flush()


def _failure(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message[:MAX_MESSAGE_CHARS], **extra}


def run(request: dict[str, Any], channel: TextIO) -> dict[str, Any]:
    """Load and call the requested hook; the outcome document (the ready event is emitted on the way)."""
    try:
        function = load_hook(str(request["plugin"]), str(request["hook"]))
    except PluginLoadError as exc:
        return _failure(exc.kind, str(exc))
    except MemoryError:
        return _failure("memory", "MemoryError")
    except Exception as exc:
        return _failure("load-error", f"loading failed: {type(exc).__name__}: {exc}")
    _emit(channel, {"event": "ready"})
    try:
        result = function(request.get("payload") or {})
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
    except MemoryError:
        return _failure("memory", "MemoryError")
    except Exception as exc:
        return _failure(
            "error",
            f"{type(exc).__name__}: {exc}",
            unrecoverable=getattr(exc, "unrecoverable", False) is True,
        )
    try:
        return {"ok": True, "result": json.loads(json.dumps(result, allow_nan=False))}
    except (TypeError, ValueError) as exc:
        return _failure("bad-result", f"the hook returned a value that is not JSON: {exc}")


async def _await(awaitable: Any) -> Any:
    return await awaitable


def main() -> None:
    """Entry point of the host subprocess."""
    parser = argparse.ArgumentParser(prog="corral_reference.plugins.host")
    parser.add_argument("--memory-mb", type=int, required=True)
    arguments = parser.parse_args()
    # Keep the real stdout for the protocol; everything else written to fd 1 lands on stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    limit_memory(arguments.memory_mb)
    try:
        request = json.loads(sys.stdin.buffer.read())
        outcome = run(request, channel)
    except MemoryError:
        outcome = _failure("memory", "MemoryError")
    _emit(channel, outcome)
    channel.close()


if __name__ == "__main__":
    main()
