"""`corral up`: the embedded server if needed, worker processes for every queue, and the API, as one command."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress

import uvicorn

from corral.api import create_app
from corral.connection import announce, withdraw
from corral.server import EmbeddedValkey, check_server, redact_url
from corral.settings import Settings

logger = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 2.0


class WorkerPool:
    """Worker subprocesses, restarted if they die, stopped with SIGTERM and their shutdown grace."""

    def __init__(self, settings: Settings, redis_url: str, count: int) -> None:
        self.settings = settings
        self.count = count
        self.env = {**os.environ, "CORRAL_REDIS_URL": redis_url, "CORRAL_DATA_DIR": str(settings.data_dir.resolve())}
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "corral", "worker"], env=self.env)

    def start(self) -> None:
        """Start `count` worker processes."""
        self.processes = [self._spawn() for _ in range(self.count)]
        logger.info("started %d worker process(es): pids %s", self.count, [p.pid for p in self.processes])

    async def watch(self) -> None:
        """Restart worker processes that exit while Corral is up."""
        while not self._stopping:
            await asyncio.sleep(RESTART_DELAY_SECONDS)
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self._stopping:
                    logger.warning("worker pid %d exited with %s; restarting it", process.pid, process.returncode)
                    self.processes[index] = self._spawn()

    def stop(self) -> None:
        """SIGTERM every worker, wait for their graceful shutdown, then kill stragglers."""
        self._stopping = True
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.error("worker pid %d did not stop in time; killing it", process.pid)
                process.kill()
                process.wait()


def prepare_database(settings: Settings) -> str | None:
    """Migrate the SQL store and create the first owner if there is none; returns a generated password or None."""
    from corral.security.users import UserService
    from corral.store import Database, upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    try:
        users = UserService(database)
        return asyncio.run(users.ensure_owner(settings.owner_email, settings.owner_password.get_secret_value()))
    finally:
        database.dispose()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_up(settings: Settings, show_first_owner: Callable[[str, str], None]) -> None:
    """Run Corral until SIGTERM/SIGINT: server, migrations, workers and the API; stop them all cleanly.

    On the first start, an owner account is created; a generated password goes to `show_first_owner`, never a log.
    """
    # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM must then unwind through the
    # clean-up below instead of killing the process with the embedded server still running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded: EmbeddedValkey | None = None
    if settings.redis_url:
        redis_url = settings.redis_url
        version = check_server(redis_url)
        logger.info("using Redis %s at %s", version, redact_url(redis_url))
    else:
        embedded = EmbeddedValkey(settings.valkey_dir, persist=True)
        redis_url = embedded.start()
        announce(settings, redis_url)
    pool = WorkerPool(settings, redis_url, settings.worker_processes)
    try:
        generated = prepare_database(settings)
        if generated:
            show_first_owner(settings.owner_email, generated)
        pool.start()
        with suppress(KeyboardInterrupt):
            asyncio.run(_serve_api(settings, redis_url, pool))
    finally:
        pool.stop()
        if embedded is not None:
            withdraw(settings)
            embedded.stop()
            logger.info("embedded Valkey stopped; data kept in %s", settings.valkey_dir)


async def _serve_api(settings: Settings, redis_url: str, pool: WorkerPool) -> None:
    config = uvicorn.Config(
        create_app(settings, redis_url), host=settings.host, port=settings.port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    watcher = asyncio.create_task(pool.watch())
    logger.info("Corral is up: API on http://%s:%d (docs at /docs, health at /healthz)", settings.host, settings.port)
    try:
        await server.serve()
    finally:
        watcher.cancel()
        with suppress(asyncio.CancelledError):
            await watcher
