"""The event loop a worker process runs on: uvloop where it is installed, else asyncio's own."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from corral.errors import ConfigurationError

T = TypeVar("T")

LoopChoice = Literal["auto", "uvloop", "asyncio"]


def uvloop_available() -> bool:
    """Whether uvloop can be imported here (it is a dependency everywhere but Windows)."""
    return importlib.util.find_spec("uvloop") is not None


def loop_factory(choice: LoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop `choice` names; None means asyncio's default loop.

    Raises ConfigurationError when `uvloop` is asked for and not installed.
    """
    if choice == "asyncio" or (choice == "auto" and not uvloop_available()):
        return None
    try:
        import uvloop
    except ImportError:
        raise ConfigurationError("worker_event_loop: uvloop is not installed; use auto or asyncio") from None
    return uvloop.new_event_loop


def loop_name(choice: LoopChoice) -> str:
    """`uvloop` or `asyncio`: the loop `choice` runs on this machine."""
    return "asyncio" if loop_factory(choice) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], choice: LoopChoice) -> T:
    """Run `main` to completion on the loop `choice` names, as `asyncio.run` does."""
    try:
        factory = loop_factory(choice)
    except ConfigurationError:
        main.close()
        raise
    if factory is None:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
