"""Stopping background loops: every wait bounded, even for a task that swallows its cancel."""

from __future__ import annotations

import asyncio
import logging

import pytest

from corral.lifetime import end_task


async def test_a_task_that_stops_when_asked_ends_without_a_cancel() -> None:
    # Given a loop that stops when its event is set
    stopping = asyncio.Event()
    task = asyncio.create_task(stopping.wait())
    # When it is asked to stop and ended
    stopping.set()
    assert await end_task(task, wait_seconds=30)
    # Then it ended by itself, not by a cancel
    assert not task.cancelled()


async def test_a_task_that_swallows_its_cancel_is_left_behind_after_the_bounded_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a task that ignores being asked and swallows the first cancel (as a cancel lost in a Redis call is)
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()

    task = asyncio.create_task(stubborn(), name="stubborn-loop")
    await asyncio.sleep(0)
    # When it is ended with short waits
    with caplog.at_level(logging.WARNING, logger="corral.lifetime"):
        ended = await end_task(task, wait_seconds=0.05, cancel_wait_seconds=0.05)
    # Then the close returns instead of waiting forever, and says which task was left
    assert ended is False and not task.done()
    assert "stubborn-loop did not stop" in caplog.text
    release.set()
    await task
