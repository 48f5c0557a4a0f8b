"""Authentication and authorisation of requests: session cookie or bearer token, CSRF, permission, budgets."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, Request

from corral.api.context import ApiServices, services
from corral.errors import AuthenticationError, CsrfError, PermissionDeniedError
from corral.security.permissions import Permission
from corral.security.ratelimit import Budget
from corral.security.sessions import CSRF_HEADER, SESSION_COOKIE, Session, csrf_matches
from corral.security.users import Account
from corral.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """Who is calling, how they proved it, and what they may do."""

    account: Account
    via: Literal["session", "token"]
    session: Session | None = None

    @property
    def actor(self) -> str:
        """The name recorded in audit and data-access logs."""
        return self.account.email


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: str, settings: Settings) -> bool:
    """Whether `address` is one of the configured trusted proxies (an address or inside a network)."""
    if not settings.trusted_proxies:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in _networks(tuple(settings.trusted_proxies)))


def _header_values(request: Request, name: str) -> list[str]:
    """Every comma-separated value of a header, across repeated headers, in order."""
    return [part.strip() for line in request.headers.getlist(name) for part in line.split(",")]


def client_ip(request: Request, settings: Settings) -> str:
    """The caller's address.

    `X-Forwarded-For` is read only when the connection comes from a trusted proxy (CORRAL_TRUSTED_PROXIES), and
    then from the right: each trusted proxy appended the address it was connected from, so the right-most address
    that is not a trusted proxy is the client; whatever is left of it could have been written by the client.
    """
    peer = request.client.host if request.client else "unknown"
    if not _trusted(peer, settings):
        return peer
    found = peer
    for candidate in reversed(_header_values(request, "x-forwarded-for")):
        try:
            address = str(ipaddress.ip_address(candidate))
        except ValueError:
            return found  # a malformed hop: believe nothing beyond the last well-formed one
        found = address
        if not _trusted(address, settings):
            return address
    return found


def forwarded_https(request: Request, settings: Settings) -> bool:
    """Whether the client's own connection was HTTPS: the request's scheme, or the trusted proxy's word for it."""
    if request.url.scheme in ("https", "wss"):
        return True
    peer = request.client.host if request.client else ""
    if not _trusted(peer, settings):
        return False
    protos = _header_values(request, "x-forwarded-proto")
    return bool(protos) and protos[-1].lower() == "https"


async def authenticate(request: Request, api: ApiServices) -> Principal:
    """The principal behind a bearer token or a session cookie; raises AuthenticationError."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthenticationError("Authorization header must be 'Bearer <token>'")
        account = await api.tokens.authenticate(credential.strip())
        if account is None:
            raise AuthenticationError("token unknown, revoked, expired, or its account is disabled")
        return Principal(account, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        session = await api.sessions.get(cookie)
        if session is not None:
            account = await api.users.get(session.user_id)
            if account is not None and account.active:
                return Principal(account, "session", session)
        raise AuthenticationError("session expired or ended; sign in again")
    raise AuthenticationError("sign in, or send an API token as 'Authorization: Bearer <token>'")


class Require:
    """A route's guard: spends the IP budget, authenticates, checks CSRF and the permissions, spends the user budget."""

    def __init__(self, permission: Permission, budget: Budget | None = None, *also: Permission) -> None:
        self.permission = permission
        self.budget = budget
        self.permissions = (permission, *also)

    async def __call__(self, request: Request, api: ApiServices = Depends(services)) -> Principal:  # noqa: B008
        budget = self.budget or (Budget.READ if request.method in SAFE_METHODS else Budget.MUTATION)
        request.state.budget = budget
        await api.limits.spend(budget, "ip", client_ip(request, api.settings), report=False)
        principal = await authenticate(request, api)
        request.state.principal = principal
        if principal.via == "session" and request.method not in SAFE_METHODS:
            if principal.session is None or not csrf_matches(principal.session, request.headers.get(CSRF_HEADER)):
                raise CsrfError(f"send the session's CSRF token in the {CSRF_HEADER} header")
        for permission in self.permissions:
            if not api.policy.allows(principal.account.role, permission):
                raise PermissionDeniedError(
                    f"this needs the {permission.value} permission, which your role "
                    f"({principal.account.role.value}) does not hold"
                )
        # The headers report the account's budget; the address's is checked without reading its window.
        request.state.rate = await api.limits.spend(budget, "user", str(principal.account.id))
        return principal


def require(permission: Permission, budget: Budget | None = None, *also: Permission) -> Any:
    """The dependency a route declares for its permission (plus any `also` needed), and for exports its budget."""
    return Depends(Require(permission, budget, *also))
