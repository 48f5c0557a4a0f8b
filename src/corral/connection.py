"""Finding the Redis/Valkey server: the configured URL, or the embedded one a running `corral up` announced."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import redis as sync_redis
import redis.cluster as sync_cluster
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.sentinel import Sentinel as SyncSentinel

from corral.errors import ConfigurationError
from corral.private_files import make_private_dir, write_private
from corral.redis_url import (
    ClusterTarget,
    SentinelTarget,
    check_redis_url,
    cluster_target,
    is_cluster,
    is_sentinel,
    sentinel_target,
)
from corral.settings import Settings

# How long a question to a sentinel (where is the primary?) may take before the next sentinel is asked.
SENTINEL_TIMEOUT_SECONDS = 2.0


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
        check_redis_url(settings.redis_url)
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
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": None,
        "socket_keepalive": True,
        "health_check_interval": 30,
    }
    if is_sentinel(url):
        return sentinel_client(sentinel_target(url), **options)
    if is_cluster(url):
        return cluster_client(cluster_target(url), **options)
    return Redis.from_url(url, **options)


def probe_client(url: str, connect_timeout: float = 1.0) -> Redis:
    """A client for health probes: one try per command (no retries, so a refused connection says so at once)."""
    if is_sentinel(url):
        client = sentinel_client(
            sentinel_target(url), decode_responses=True, socket_timeout=None, socket_connect_timeout=connect_timeout
        )
        client.set_retry(Retry(NoBackoff(), 0))
        return client
    if is_cluster(url):
        return cluster_client(
            cluster_target(url),
            decode_responses=True,
            socket_timeout=None,
            socket_connect_timeout=connect_timeout,
            retry=Retry(NoBackoff(), 0),
        )
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=None,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        single_connection_client=True,
    )


def engine_connection(url: str) -> str | Redis:
    """What bullmq is given to connect with: the URL of one server, or a client that follows a Sentinel's primary.

    bullmq builds its own client from a URL, but knows no Sentinel URL; for one it gets a ready client, tuned by the
    engine like its own.
    """
    if is_sentinel(url):
        return sentinel_client(sentinel_target(url), decode_responses=True)
    if is_cluster(url):
        return cluster_client(
            cluster_target(url),
            decode_responses=True,
            socket_timeout=None,
            socket_keepalive=True,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        )
    return url


async def pubsub_of(client: Redis) -> PubSub:
    """A pub/sub connection of `client`; on a cluster, of the node serving the channel's slot once the client has
    learnt the layout (a cluster relays every classic PUBLISH to every node)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
    return client.pubsub()


def sync_client(url: str, connect_timeout: float = 2.0, socket_timeout: float = 5.0) -> sync_redis.Redis:
    """A blocking client with timeouts, for the checks a command makes before it starts its event loop."""
    if is_cluster(url):
        nodes = cluster_target(url)
        client: sync_redis.Redis = sync_cluster.RedisCluster(  # type: ignore[assignment]
            startup_nodes=[sync_cluster.ClusterNode(host, port) for host, port in nodes.nodes],  # type: ignore[no-untyped-call]
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            **nodes.credentials(),
        )
        return client
    if not is_sentinel(url):
        return sync_redis.Redis.from_url(url, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout)
    target = sentinel_target(url)
    sentinel = SyncSentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs=_sentinel_options(target, connect_timeout),
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
    )
    primary: sync_redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        target.service, redis_class=_SyncSentinelRedis, **target.primary_credentials()
    )
    return primary


def sentinel_client(target: SentinelTarget, connect_timeout: float | None = None, **options: Any) -> Redis:
    """A client of the primary the sentinels name, asking them again whenever a connection to it is lost.

    redis-py's Sentinel pool reconnects to the new primary after a failover; a write that reaches the demoted one
    fails with a connection error and is retried by the caller's retry policy. Closing the client also closes its
    connections to the sentinels.
    """
    timeout = connect_timeout or SENTINEL_TIMEOUT_SECONDS
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=_sentinel_options(target, timeout))  # type: ignore[no-untyped-call]
    if connect_timeout is not None:
        options["socket_connect_timeout"] = connect_timeout
    client: Redis = sentinel.master_for(
        target.service, redis_class=_SentinelRedis, **target.primary_credentials(), **options
    )
    return client


def cluster_client(target: ClusterTarget, **options: Any) -> Redis:
    """A client of a Redis/Valkey Cluster: it learns the nodes and slots from the URL's nodes, sends each command to
    the master of its key's slot and follows the layout after a failover or a resharding (MOVED, ASK, lost nodes).

    It is typed as a Redis client: Corral's code uses the commands both share, and keeps every script and transaction
    on one slot (see `corral.keys`).
    """
    client = CorralCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes], **target.credentials(), **options
    )
    return client  # type: ignore[return-value]


class CorralCluster(RedisCluster):
    """A cluster client whose pipelines can run Lua scripts.

    redis-py refuses EVALSHA in a cluster pipeline (it could not load a missing script into a transaction). The engine
    adds jobs in bulk and flows as one MULTI/EXEC of scripts on one slot; this client's pipelines send such a script
    as EVAL with its text, which every node can run without loading it first.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script_texts: dict[str, str] = {}

    def register_script(self, script: Any) -> Any:
        """Register a script, remembering its text by its SHA1 for pipelines."""
        text = script.decode() if isinstance(script, bytes) else str(script)
        self.script_texts[hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()] = text
        return super().register_script(script)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        """A pipeline (a MULTI/EXEC on one slot when `transaction`) that accepts scripts."""
        if shard_hint:
            return super().pipeline(transaction, shard_hint)
        return _ScriptPipeline(self, transaction)  # type: ignore[abstract]


class _ScriptPipeline(ClusterPipeline):
    """A cluster pipeline that queues a registered script's EVALSHA as an EVAL of its text."""

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> ClusterPipeline:
        # A coroutine, as a script awaits its call: awaiting the pipeline itself would start it again, emptied.
        texts: dict[str, str] = getattr(self.cluster_client, "script_texts", {})
        text = texts.get(sha)
        if text is None:
            raise ConfigurationError(f"a script unknown to this cluster client was queued in a pipeline ({sha})")
        self.execute_command("EVAL", text, numkeys, *keys_and_args)
        return self


def _sentinel_options(target: SentinelTarget, timeout: float) -> dict[str, Any]:
    return {
        "socket_connect_timeout": timeout,
        "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
        **target.sentinel_credentials(),
    }


class _SentinelRedis(Redis):
    """A primary's client that owns its Sentinel: closing it closes the connections to the sentinels too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        await self.connection_pool.sentinel_manager.aclose()  # type: ignore[attr-defined]


class _SyncSentinelRedis(sync_redis.Redis):
    """The blocking counterpart of _SentinelRedis."""

    def close(self) -> None:
        super().close()
        for client in self.connection_pool.sentinel_manager.sentinels:  # type: ignore[attr-defined]
            client.close()
