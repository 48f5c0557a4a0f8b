"""The Valkey Cluster test helper: it reaches `cluster_state:ok`, shards keys across masters and fails over."""

from __future__ import annotations

from pathlib import Path

from redis.cluster import RedisCluster

from cluster_support import PASSWORD, ClusterDeployment
from owned_processes import ProcessGroup


def cluster_client(deployment: ClusterDeployment) -> RedisCluster:
    """A cluster-aware client seeded with the deployment's first running master; it finds the others (close it)."""
    return RedisCluster(
        host="127.0.0.1",
        port=deployment.master_ports[0],
        password=deployment.password,
        decode_responses=True,
        socket_timeout=10,
    )


def test_a_cluster_reaches_ok_and_serves_a_key_written_through_a_cluster_client(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given a cluster of three masters
    deployment = ClusterDeployment(processes, tmp_path / "cluster")
    first, second, third = deployment.master_ports
    assert deployment.url == f"redis+cluster://:{PASSWORD}@127.0.0.1:{first},127.0.0.1:{second},127.0.0.1:{third}"
    assert deployment.replica_ports == []
    for port in deployment.master_ports:
        with deployment.node(port) as node:
            assert node.cluster("INFO")["cluster_state"] == "ok"
            assert int(node.cluster("INFO")["cluster_known_nodes"]) == 3

    # When a key is written through a cluster client
    client = cluster_client(deployment)
    try:
        assert client.set("greeting", "hello")
        assert client.get("greeting") == "hello"
    finally:
        client.close()

    # Then it is on the master that owns its slot, and only there
    owner = deployment.slot_owner("greeting")
    assert owner in deployment.master_ports
    for port in deployment.master_ports:
        with deployment.node(port) as node:
            assert node.cluster("COUNTKEYSINSLOT", node.cluster("KEYSLOT", "greeting")) == (1 if port == owner else 0)
    with deployment.node(owner) as node:
        assert node.get("greeting") == "hello"


def test_keys_with_different_hash_tags_land_on_several_masters_without_a_password(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given a cluster of three masters without a password
    deployment = ClusterDeployment(processes, tmp_path / "cluster", password=None)
    hosts = ",".join(f"127.0.0.1:{port}" for port in deployment.master_ports)
    assert deployment.url == f"redis+cluster://{hosts}"

    # When keys with sixteen different hash tags are written through a cluster client
    keys = [f"{{job-{number}}}:state" for number in range(16)]
    client = cluster_client(deployment)
    try:
        for key in keys:
            assert client.set(key, key.upper())
    finally:
        client.close()

    # Then they are spread over two masters or more, each read back from its own master; one tag is one master
    assert len(deployment.masters_of(keys)) >= 2
    for key in keys:
        with deployment.node(deployment.slot_owner(key)) as node:
            assert node.get(key) == key.upper()
    assert len(deployment.masters_of(["{job-1}:state", "{job-1}:attempts", "{job-1}"])) == 1


def test_killing_a_master_fails_over_to_its_replica_and_a_replicated_key_survives(
    tmp_path: Path, processes: ProcessGroup
) -> None:
    # Given three masters with a replica each, and a key acknowledged by its master's replica
    deployment = ClusterDeployment(processes, tmp_path / "cluster", replicas_per_master=1)
    assert len(deployment.replica_ports) == 3
    for master in deployment.master_ports:
        (replica,) = deployment.replicas_of(master)
        with deployment.node(replica) as node:
            assert node.info("replication")["role"] == "slave"
    key = "{survivor}:payload"
    owner = deployment.slot_owner(key)
    (replica,) = deployment.replicas_of(owner)
    with deployment.node(owner) as node:
        assert node.set(key, "kept")
        assert node.wait(1, 0) == 1

    # When its master is killed
    deployment.kill(owner)
    new_master = deployment.wait_for_failover(owner)

    # Then the replica serves the slot and still has the key, directly and through a cluster client
    assert new_master == replica
    assert owner not in deployment.master_ports and new_master in deployment.master_ports
    assert deployment.slot_owner(key) == new_master
    with deployment.node(new_master) as node:
        assert node.info("replication")["role"] == "master"
        assert node.get(key) == "kept"
    client = cluster_client(deployment)
    try:
        assert client.get(key) == "kept"
        assert client.set(key, "rewritten")
        assert client.get(key) == "rewritten"
    finally:
        client.close()
