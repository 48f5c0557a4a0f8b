"""The API process's view of its server: probes and readiness checks recorded in the order they were sent."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from corral.availability import Availability
from corral.errors import ServerUnavailableError


async def test_an_outcome_older_than_the_recorded_one_is_ignored(valkey_url: str) -> None:
    availability = Availability(Redis.from_url(valkey_url), valkey_url)
    try:
        # Given a server that answers the probe
        await availability.probe()
        assert availability.available
        # When a request sent later finds it gone, then the process knows it is unavailable
        gone = time.monotonic()
        availability.record("cannot connect", gone)
        with pytest.raises(ServerUnavailableError, match="cannot connect"):
            availability.check()
        # And a success of a request sent before that does not hide it
        availability.record(None, gone - 1)
        assert not availability.available
        # While a success sent after it does (what /healthz records when its write is answered)
        availability.record(None, time.monotonic())
        assert availability.available
        availability.check()
    finally:
        await availability.stop()
