"""What a `CORRAL_REDIS_URL` names: one server (`redis://`, `rediss://`, `unix://`) or a Sentinel-managed primary.

A Sentinel URL lists the sentinels and names the monitored service; Corral asks the sentinels where the primary is
and asks again after a failover:

    redis+sentinel://[[username]:password@]host:port[,host:port...]/service_name[/db][?sentinel_password=...]

The credentials before `@` are the primary's; sentinels that require their own give them as the query parameters
`sentinel_username` and `sentinel_password`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from corral.errors import ConfigurationError

SERVER_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
UNSUPPORTED = {
    "redis+cluster": "Redis/Valkey Cluster is not supported yet; use one server or a Sentinel-managed primary",
    "rediss+cluster": "Redis/Valkey Cluster is not supported yet; use one server or a Sentinel-managed primary",
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


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased ('' when it has none)."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def check_redis_url(url: str) -> None:
    """Refuse, naming the reason, a URL Corral cannot connect with."""
    scheme = scheme_of(url)
    if scheme == SENTINEL_SCHEME:
        sentinel_target(url)
        return
    if scheme in UNSUPPORTED:
        raise ConfigurationError(f"CORRAL_REDIS_URL: {UNSUPPORTED[scheme]}")
    if scheme not in SERVER_SCHEMES:
        raise ConfigurationError(
            f"CORRAL_REDIS_URL: unknown scheme {scheme or '(none)'!r}; use redis://, rediss://, unix:// or "
            "redis+sentinel://"
        )


def is_sentinel(url: str) -> bool:
    """Whether the URL names a Sentinel-managed primary."""
    return scheme_of(url) == SENTINEL_SCHEME


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


def _address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"CORRAL_REDIS_URL: sentinel address {text!r} is not host:port")
    return host.strip("[]"), int(port)


def _option(options: dict[str, list[str]], name: str) -> str | None:
    values = options.get(name)
    return values[-1] if values else None
