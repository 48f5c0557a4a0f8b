"""The dramatiq peer (run in the benchmark's own environment): a no-op actor on a Redis broker from DRAMATIQ_URL."""

from __future__ import annotations

import os
import sys

import dramatiq
from dramatiq.brokers.redis import RedisBroker

broker = RedisBroker(url=os.environ["DRAMATIQ_URL"], namespace="dramatiq-bench")
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=3)
def noop(n: int, name: str, tags: list[str]) -> None:
    """Does nothing, like the other peers' jobs."""


if __name__ == "__main__" and sys.argv[1:2] == ["fill"]:
    # `python dramatiq_app.py fill N`: enqueue N messages before the workers start.
    for n in range(int(sys.argv[2])):
        noop.send(n, f"job-{n}", ["bench", "noop"])
