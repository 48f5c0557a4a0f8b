"""What a `CORRAL_REDIS_URL` names: one server (`redis://`, `rediss://`, `unix://`), a Sentinel-managed primary, or a
Redis/Valkey Cluster.

A Sentinel URL lists the sentinels and names the monitored service; Corral asks the sentinels where the primary is
and asks again after a failover:

    redis+sentinel://[[username]:password@]host:port[,host:port...]/service_name[/db][?sentinel_password=...]

The credentials before `@` are the primary's; sentinels that require their own give them as the query parameters
`sentinel_username` and `sentinel_password`.

A Cluster URL lists some of the cluster's nodes (any of them; the client learns the rest from them), with TLS when the
scheme is `rediss+cluster`:

    redis+cluster://[[username]:password@]host:port[,host:port...]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from corral.errors import ConfigurationError

SERVER_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
UNSUPPORTED = {
    "rediss+sentinel": "TLS to Sentinel is not supported; use redis+sentinel://",
}


@dataclass(frozen=True)
class SentinelTarget:
    """The sentinels to ask, the service they monitor, and how to sign in to the primary and to them."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None

    def primary_credentials(self) -> dict[str, Any]:
        """The database and the credentials given, as client keyword arguments for the primary."""
        given = {"username": self.username, "password": self.password}
        return {"db": self.db, **{name: value for name, value in given.items() if value is not None}}

    def sentinel_credentials(self) -> dict[str, str]:
        """The sentinels' own credentials given, as client keyword arguments."""
        given = {"username": self.sentinel_username, "password": self.sentinel_password}
        return {name: value for name, value in given.items() if value is not None}


@dataclass(frozen=True)
class ClusterTarget:
    """Nodes to learn a cluster's layout from, and how to sign in to every node."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def credentials(self) -> dict[str, Any]:
        """The credentials given (and TLS when asked), as client keyword arguments."""
        given = {"username": self.username, "password": self.password}
        return {
            **{name: value for name, value in given.items() if value is not None},
            **({"ssl": True} if self.tls else {}),
        }


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased ('' when it has none)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def check_redis_url(url: str) -> None:
    """Refuse, naming the reason, a URL Corral cannot connect with."""
    scheme = scheme_of(url)
    if scheme == SENTINEL_SCHEME:
        sentinel_target(url)
        return
    if scheme in CLUSTER_SCHEMES:
        cluster_target(url)
        return
    if scheme in UNSUPPORTED:
        raise ConfigurationError(f"CORRAL_REDIS_URL: {UNSUPPORTED[scheme]}")
    if scheme not in SERVER_SCHEMES:
        raise ConfigurationError(
            f"CORRAL_REDIS_URL: unknown scheme {scheme or '(none)'!r}; use redis://, rediss://, unix://, "
            "redis+sentinel:// or redis+cluster://"
        )


def is_sentinel(url: str) -> bool:
    """Whether the URL names a Sentinel-managed primary."""
    return scheme_of(url) == SENTINEL_SCHEME


def is_cluster(url: str) -> bool:
    """Whether the URL names a Redis/Valkey Cluster."""
    return scheme_of(url) in CLUSTER_SCHEMES


def cluster_target(url: str) -> ClusterTarget:
    """Parse a `redis+cluster://` URL; a malformed one raises ConfigurationError naming what is wrong."""
    if not is_cluster(url):
        raise ConfigurationError("CORRAL_REDIS_URL: not a redis+cluster:// URL")
    rest = url.split("://", 1)[1]
    location, _, tail = rest.partition("/")
    if tail.strip("/") or "?" in location:
        raise ConfigurationError(
            "CORRAL_REDIS_URL: a Cluster URL has no database or options (a cluster has database 0 only)"
        )
    credentials, _, hosts = location.rpartition("@")
    username, password = _credentials(credentials)
    nodes = tuple(_address(part, "cluster node") for part in hosts.split(",") if part)
    if not nodes:
        raise ConfigurationError("CORRAL_REDIS_URL: a Cluster URL names at least one node as host:port")
    return ClusterTarget(nodes, username, password, tls=scheme_of(url) == "rediss+cluster")


def sentinel_target(url: str) -> SentinelTarget:
    """Parse a `redis+sentinel://` URL; a malformed one raises ConfigurationError naming what is wrong."""
    if not is_sentinel(url):
        raise ConfigurationError(f"CORRAL_REDIS_URL: not a {SENTINEL_SCHEME}:// URL")
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    location, _, path = rest.partition("/")
    credentials, _, hosts = location.rpartition("@")
    username, password = _credentials(credentials)
    sentinels = tuple(_address(part) for part in hosts.split(",") if part)
    if not sentinels:
        raise ConfigurationError("CORRAL_REDIS_URL: a Sentinel URL names at least one sentinel as host:port")
    parts = [unquote(part) for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise ConfigurationError("CORRAL_REDIS_URL: a Sentinel URL ends with /service_name or /service_name/db")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ConfigurationError(f"CORRAL_REDIS_URL: database {parts[1]!r} is not a number")
        db = int(parts[1])
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - set(SENTINEL_OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"CORRAL_REDIS_URL: unknown Sentinel option {unknown[0]!r}; known: {', '.join(SENTINEL_OPTIONS)}"
        )
    return SentinelTarget(
        sentinels=sentinels,
        service=parts[0],
        db=db,
        username=username,
        password=password,
        sentinel_username=_option(options, "sentinel_username"),
        sentinel_password=_option(options, "sentinel_password"),
    )


def _credentials(text: str) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    user, colon, password = text.partition(":")
    return (unquote(user) or None), (unquote(password) if colon else None)


def _address(text: str, what: str = "sentinel") -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"CORRAL_REDIS_URL: {what} address {text!r} is not host:port")
    return host.strip("[]"), int(port)


def _option(options: dict[str, list[str]], name: str) -> str | None:
    values = options.get(name)
    return values[-1] if values else None
