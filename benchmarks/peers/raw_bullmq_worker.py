"""A raw bullmq worker (no Corral) draining the benchmark queue; argv: redis URL, bullmq prefix, concurrency."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from bullmq import Worker


async def main(url: str, prefix: str, concurrency: int) -> None:
    async def process(job: Any, token: str) -> dict[str, int]:
        return {"n": job.data["n"]}

    worker = Worker("bench", process, {"connection": url, "prefix": prefix, "concurrency": concurrency})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await worker.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
