"""Finding the Redis/Valkey server: the configured URL, or the embedded one a running `corral up` announced."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from corral.errors import ConfigurationError
from corral.private_files import make_private_dir, write_private
from corral.settings import Settings


def announce_file(settings: Settings) -> Path:
    """Where `corral up` writes the URL of its embedded Valkey for other commands to find."""
    return settings.data_dir / "run" / "redis-url"


def announce(settings: Settings, url: str) -> None:
    """Record the embedded server's URL, password included (readable by the owner only: 0600 in a 0700 directory)."""
    path = announce_file(settings)
    make_private_dir(path.parent)
    write_private(path, url + "\n")


def withdraw(settings: Settings) -> None:
    """Forget the announced URL once the embedded server has stopped."""
    announce_file(settings).unlink(missing_ok=True)


def resolve_redis_url(settings: Settings) -> str:
    """The server to use: CORRAL_REDIS_URL if set, else the embedded Valkey of a running `corral up`."""
    if settings.redis_url:
        return settings.redis_url
    path = announce_file(settings)
    if path.exists():
        url = path.read_text(encoding="utf-8").strip()
        if url:
            return url
    raise ConfigurationError(
        "no Redis/Valkey server: set CORRAL_REDIS_URL, or start `corral up` (it runs an embedded Valkey) "
        f"with the same data directory ({settings.data_dir})"
    )


def redis_client(url: str) -> Redis:
    """A Redis client for Corral's own use (decoded strings, keep-alive and health checks).

    No socket timeout: redis-py wraps each read and write in a timeout when one is set, and on Python 3.11 that
    loses a task's cancellation about half the time, so job timeouts and graceful shutdown could not stop a
    task waiting on Redis. Dead connections are found by TCP keep-alive and the periodic health check instead.
    """
    return Redis.from_url(
        url, decode_responses=True, socket_timeout=None, socket_keepalive=True, health_check_interval=30
    )


def probe_client(url: str, connect_timeout: float = 1.0) -> Redis:
    """A client for health probes: one try per command (no retries, so a refused connection says so at once)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=None,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        single_connection_client=True,
    )
