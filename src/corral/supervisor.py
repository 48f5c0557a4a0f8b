"""`corral up`: the embedded server if needed, worker processes for every queue, and the API, as one command."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import redis
import uvicorn

from corral.api import create_app
from corral.api.serving import server_config
from corral.connection import announce, announce_file, withdraw
from corral.errors import ServerError
from corral.lifetime import DataDirectoryLock, die_with_parent
from corral.private_files import PRIVATE_UMASK, make_private_dir
from corral.server import EmbeddedValkey, check_server, redact_url
from corral.settings import Settings

logger = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 2.0
SERVER_WATCH_SECONDS = 0.5


class ProcessPool:
    """Child processes of one kind (`corral worker`, `corral api`), restarted if they die, stopped with SIGTERM.

    Each child is killed when its supervisor dies (a parent-death signal), so nothing outlives `corral up`.
    """

    def __init__(self, kind: str, command: list[str], settings: Settings, redis_url: str, count: int) -> None:
        self.kind = kind
        self.command = command
        self.settings = settings
        self.count = count
        self.env = {
            **os.environ,
            "CORRAL_REDIS_URL": redis_url,
            "CORRAL_DATA_DIR": str(settings.data_dir.resolve()),
            "CORRAL_APP": settings.app,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "corral", *self.command], env=self.env, preexec_fn=die_with_parent(signal.SIGKILL)
        )

    def start(self) -> None:
        """Start `count` processes."""
        self.processes = [self._spawn() for _ in range(self.count)]
        if self.count:
            logger.info("started %d %s process(es): pids %s", self.count, self.kind, [p.pid for p in self.processes])

    async def watch(self) -> None:
        """Restart processes that exit while Corral is up."""
        while not self._stopping:
            await asyncio.sleep(RESTART_DELAY_SECONDS)
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self._stopping:
                    logger.warning(
                        "%s pid %d exited with %s; restarting it", self.kind, process.pid, process.returncode
                    )
                    self.processes[index] = self._spawn()

    def stop(self) -> None:
        """SIGTERM every process, wait for their graceful shutdown, then kill stragglers."""
        self._stopping = True
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.error("%s pid %d did not stop in time; killing it", self.kind, process.pid)
                process.kill()
                process.wait()


def worker_pool(settings: Settings, redis_url: str) -> ProcessPool:
    """`corral worker` processes, as many as `worker_processes`."""
    return ProcessPool("worker", ["worker"], settings, redis_url, settings.worker_processes)


def api_pool(settings: Settings, redis_url: str, count: int) -> ProcessPool:
    """Extra `corral api` processes sharing this process's port (SO_REUSEPORT); the database is migrated already."""
    command = ["api", "--host", settings.host, "--port", str(settings.port), "--reuse-port", "--no-migrate"]
    return ProcessPool("API", command, settings, redis_url, count)


def prepare_database(settings: Settings) -> str | None:
    """Migrate the SQL store and create the first owner if there is none; returns a generated password or None."""
    from corral.app import load_app
    from corral.services import build_store_services
    from corral.sql import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url, apps=load_app(settings.app).migrations)

    async def ensure_owner() -> str | None:
        services = build_store_services(settings, "cli")
        try:
            return await services.users.ensure_owner(settings.owner_email, settings.owner_password.get_secret_value())
        finally:
            await services.close()

    return asyncio.run(ensure_owner())


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def take_over_stale_server(settings: Settings) -> None:
    """Stop an embedded Valkey an earlier `corral up` of this data directory left running, and forget its URL.

    Called with the data directory's lock held, so its owner is gone: a server still serving the directory's files
    would otherwise run beside the new one on the same append-only files.
    """
    path = announce_file(settings)
    url = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if url:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        try:
            served = client.config_get("dir").get("dir")
            pid = client.info("server").get("process_id")
            if served and Path(served).resolve() == settings.valkey_dir.resolve():
                logger.warning("stopping the embedded Valkey (pid %s) an earlier `corral up` left running", pid)
                with suppress(redis.RedisError):
                    client.shutdown()
                _wait_until_gone(url)
        except (redis.RedisError, OSError):
            pass  # nothing answers there any more
        finally:
            client.close()
        logger.info("removed the stale server address %s", path)
        withdraw(settings)
    for pid in _valkeys_serving(settings.valkey_dir):
        logger.warning("stopping Valkey pid %d, still serving %s", pid, settings.valkey_dir)
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_for_exit(pid)


def _wait_until_gone(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            check_server(url, timeout=0.2)
        except ServerError:
            return
        time.sleep(0.1)
    raise ServerError(f"the Valkey left running at {redact_url(url)} did not stop; stop it, then start again")


def _valkeys_serving(directory: Path) -> list[int]:
    """Pids of server processes whose working directory is `directory` (Linux's /proc; none elsewhere)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(entry / "cwd")) == directory.resolve() and "valkey" in os.readlink(entry / "exe"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _wait_for_exit(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise ServerError(f"Valkey pid {pid} did not stop; stop it, then start again")


def run_up(settings: Settings, show_first_owner: Callable[[str, str], None]) -> None:
    """Run Corral until SIGTERM/SIGINT: server, migrations, workers and the API; stop them all cleanly.

    On the first start, an owner account is created; a generated password goes to `show_first_owner`, never a log.
    With an embedded server, the data directory is locked for the whole run: one server per data directory.
    """
    # uvicorn re-raises the signal that stopped it once it has shut down; SIGTERM must then unwind through the
    # clean-up below instead of killing the process with the embedded server still running.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # Sessions, tokens, mail and the server's password live in the data directory: it and everything this process
    # tree writes there are the owner's alone.
    os.umask(PRIVATE_UMASK)
    make_private_dir(settings.data_dir)
    embedded: EmbeddedValkey | None = None
    lock = DataDirectoryLock(settings.data_dir)
    if settings.redis_url:
        redis_url = settings.redis_url
        version = check_server(redis_url, timeout=settings.redis_connect_timeout_seconds)
        logger.info("using Redis %s at %s", version, redact_url(redis_url))
    else:
        lock.acquire()
        try:
            take_over_stale_server(settings)
            embedded = EmbeddedValkey(settings.valkey_dir, persist=True)
            redis_url = embedded.start()
        except BaseException:
            lock.release()
            raise
        announce(settings, redis_url)
    pools = [worker_pool(settings, redis_url), api_pool(settings, redis_url, settings.api_processes - 1)]
    try:
        generated = prepare_database(settings)
        if generated:
            show_first_owner(settings.owner_email, generated)
        for pool in pools:
            pool.start()
        with suppress(KeyboardInterrupt):
            asyncio.run(_serve_api(settings, redis_url, pools, embedded))
    finally:
        for pool in reversed(pools):
            pool.stop()
        if embedded is not None:
            withdraw(settings)
            embedded.stop()
            logger.info("embedded Valkey stopped; data kept in %s", settings.valkey_dir)
        lock.release()


async def watch_server(server: EmbeddedValkey) -> None:
    """Restart the embedded server on its port and data when it exits on its own, saying so in one line each."""
    while True:
        await asyncio.sleep(SERVER_WATCH_SECONDS)
        code = server.exit_code()
        if code is None:
            continue
        logger.error(
            "embedded Valkey (pid %s) exited with code %s; restarting it on the same port and data", server.pid, code
        )
        while True:
            try:
                await asyncio.to_thread(server.start)
                break
            except ServerError as exc:
                logger.error("%s; trying again in %.0fs", exc, RESTART_DELAY_SECONDS)
                await asyncio.sleep(RESTART_DELAY_SECONDS)
        logger.warning("embedded Valkey restarted (pid %s); workers and the API reconnect by themselves", server.pid)


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for the API; with `reuse_port`, other processes can bind the same port (the kernel then
    spreads connections over them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(False)
    return sock


async def serve_api(
    settings: Settings, redis_url: str, *, reuse_port: bool, watchers: list[asyncio.Task[None]]
) -> None:
    """Serve the API (console and gateway included) until told to stop; `watchers` are cancelled after."""
    config = server_config(create_app(settings, redis_url), settings.host, settings.port)
    server = uvicorn.Server(config)
    sock = listening_socket(settings.host, settings.port, reuse_port)
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)


async def _serve_api(
    settings: Settings, redis_url: str, pools: list[ProcessPool], embedded: EmbeddedValkey | None
) -> None:
    watchers = [asyncio.create_task(pool.watch()) for pool in pools]
    if embedded is not None:
        watchers.append(asyncio.create_task(watch_server(embedded)))
    logger.info("Corral is up: API on http://%s:%d (docs at /docs, health at /healthz)", settings.host, settings.port)
    await serve_api(settings, redis_url, reuse_port=settings.api_processes > 1, watchers=watchers)


def run_api(
    settings: Settings,
    redis_url: str,
    show_first_owner: Callable[[str, str], None],
    *,
    reuse_port: bool,
    migrate: bool,
) -> None:
    """`corral api`: the API alone (no workers, no embedded server), until SIGTERM/SIGINT."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    version = check_server(redis_url, timeout=settings.redis_connect_timeout_seconds)
    logger.info("using Redis %s at %s", version, redact_url(redis_url))
    if migrate:
        generated = prepare_database(settings)
        if generated:
            show_first_owner(settings.owner_email, generated)
    logger.info("API on http://%s:%d (pid %d)", settings.host, settings.port, os.getpid())
    with suppress(KeyboardInterrupt, SystemExit):
        asyncio.run(serve_api(settings, redis_url, reuse_port=reuse_port, watchers=[]))
