"""Request budgets with the `limits` library on Redis: per IP and per account, for reads, mutations, exports, login."""

from __future__ import annotations

import enum
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import RedisClusterStorage, RedisSentinelStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from corral.errors import ConfigurationError, RateLimitedError
from corral.keys import Keys
from corral.redis_url import cluster_target, is_cluster, is_sentinel, sentinel_target
from corral.settings import Settings


class Budget(enum.StrEnum):
    """Which budget a request spends."""

    READ = "read"
    MUTATION = "mutation"
    EXPORT = "export"
    LOGIN_IP = "login-ip"
    LOGIN_ACCOUNT = "login-account"
    METRICS = "metrics"


class RateLimits:
    """Counts requests against configured budgets; raises RateLimitedError when one is spent."""

    def __init__(self, settings: Settings, redis_url: str, keys: Keys) -> None:
        try:
            self.items: dict[Budget, RateLimitItem] = {
                Budget.READ: parse(settings.rate_limit_reads),
                Budget.MUTATION: parse(settings.rate_limit_mutations),
                Budget.EXPORT: parse(settings.rate_limit_exports),
                Budget.LOGIN_IP: parse(settings.rate_limit_login_ip),
                Budget.LOGIN_ACCOUNT: parse(settings.rate_limit_login_account),
                Budget.METRICS: parse(settings.rate_limit_metrics),
            }
        except ValueError as exc:
            raise ConfigurationError(f"rate limit: {exc}") from None
        self.storage: RedisStorage
        if is_sentinel(redis_url):
            self.storage = _sentinel_storage(redis_url, keys.rate_limit_prefix)
        elif is_cluster(redis_url):
            self.storage = _cluster_storage(redis_url, keys.rate_limit_prefix)
        else:
            self.storage = RedisStorage(
                "async+" + redis_url, implementation="redispy", key_prefix=keys.rate_limit_prefix
            )
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def spend(self, budget: Budget, *identity: str, report: bool = True) -> tuple[int, int, int]:
        """Spend one request of `budget` for `identity`; returns (limit, remaining, reset epoch seconds).

        With `report=False` the window is only read when the budget is spent (one round trip instead of two);
        the returned remaining count is then -1.
        """
        item = self.items[budget]
        allowed = await self.limiter.hit(item, budget.value, *identity)
        if allowed and not report:
            return item.amount, -1, 0
        stats = await self.limiter.get_window_stats(item, budget.value, *identity)
        reset = int(math.ceil(stats.reset_time))
        if not allowed:
            retry_after = max(reset - int(time.time()), 1)
            raise RateLimitedError(
                f"too many requests ({item.amount} per {item.get_expiry()} s for {budget.value}); "
                f"retry in {retry_after} s",
                retry_after=retry_after,
                limit=item.amount,
                reset=reset,
            )
        return item.amount, stats.remaining, reset

    async def clear(self, budget: Budget, *identity: str) -> None:
        """Forget what `identity` spent of `budget` (a successful login clears the account's failures)."""
        await self.limiter.clear(self.items[budget], budget.value, *identity)

    async def close(self) -> None:
        """Release the storage's connections."""
        bridge = getattr(self.storage, "bridge", None)
        for name in ("storage", "storage_replica", "sentinel"):
            client = getattr(bridge, name, None)
            if client is not None and hasattr(client, "aclose"):
                await client.aclose()


def _cluster_storage(redis_url: str, key_prefix: str) -> RedisClusterStorage:
    """The budgets on a cluster (each budget's script touches its one key)."""
    target = cluster_target(redis_url)
    hosts = ",".join(f"{host}:{port}" for host, port in target.nodes)
    return RedisClusterStorage(
        f"async+redis+cluster://{hosts}", implementation="redispy", key_prefix=key_prefix, **target.credentials()
    )


def _sentinel_storage(redis_url: str, key_prefix: str) -> RedisSentinelStorage:
    """The budgets on a Sentinel-managed primary (never a replica: a count read there could lag behind)."""
    target = sentinel_target(redis_url)
    hosts = ",".join(f"{host}:{port}" for host, port in target.sentinels)
    return RedisSentinelStorage(
        f"async+redis+sentinel://{hosts}/{target.service}",
        implementation="redispy",
        key_prefix=key_prefix,
        use_replicas=False,
        sentinel_kwargs=dict(target.sentinel_credentials()),
        **target.primary_credentials(),
    )
