"""Sign-in, sign-out, the current account, and personal API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from corral.api.context import ApiServices, services
from corral.api.routing import AuditNote, audit_note, owner_router
from corral.api.security import Principal, client_ip, forwarded_https, require
from corral.errors import AuthenticationError, RateLimitedError
from corral.security.audit import AuditEntry
from corral.security.permissions import Permission
from corral.security.ratelimit import Budget
from corral.security.sessions import SESSION_COOKIE
from corral.security.tokens import TokenInfo
from corral.security.users import Account

router = owner_router(tags=["auth"])


class LoginCreate(BaseModel):
    """Credentials."""

    model_config = ConfigDict(extra="forbid", strict=True)
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class AccountPublic(BaseModel):
    """An account, without secrets."""

    id: int
    email: str
    role: str
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, account: Account) -> AccountPublic:
        return cls(
            id=account.id,
            email=account.email,
            role=account.role.value,
            created_at=account.created_at,
            last_login_at=account.last_login_at,
        )


class SessionPublic(BaseModel):
    """The signed-in account, its permissions and the CSRF token to send on state-changing requests."""

    account: AccountPublic
    permissions: list[str]
    csrf_token: str | None
    expires_at: int | None


class TokenCreate(BaseModel):
    """A new personal API token."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=100)
    ttl_days: int | None = Field(default=None, ge=1, le=3650)


class TokenPublic(BaseModel):
    """A token's description; `token` is present only in the answer that created it."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    token: str | None = None

    @classmethod
    def of(cls, info: TokenInfo, token: str | None = None) -> TokenPublic:
        return cls(
            id=info.id,
            name=info.name,
            prefix=info.prefix,
            created_at=info.created_at,
            expires_at=info.expires_at,
            last_used_at=info.last_used_at,
            revoked_at=info.revoked_at,
            token=token,
        )


def _secure(request: Request, api: ApiServices) -> bool:
    mode = api.settings.secure_cookies
    if mode != "auto":
        return mode == "always"
    return forwarded_https(request, api.settings)


Api = Annotated[ApiServices, Depends(services)]
Self = Annotated[Principal, require(Permission.ACCOUNT_SELF)]


@router.post("/auth/login", name="auth.login", response_model=SessionPublic)
async def login(body: LoginCreate, request: Request, response: Response, api: Api) -> SessionPublic:
    """Sign in with email and password; sets the HttpOnly session cookie and returns the CSRF token.

    Attempts are throttled per address and per account; a wrong password, an unknown account and an account whose
    role may not sign in answer alike (401).
    """
    ip = client_ip(request, api.settings)
    email = body.email.strip().lower()

    async def refused(result: str, params: dict[str, str] | None = None) -> None:
        entry = AuditEntry(
            actor=email,
            action="auth.login",
            resource="/auth/login",
            params=params or {},
            ip=ip,
            user_agent=request.headers.get("user-agent"),
            result=result,
        )
        await api.audit.record(entry)

    for budget, identity in ((Budget.LOGIN_IP, ip), (Budget.LOGIN_ACCOUNT, email)):
        try:
            await api.limits.spend(budget, identity, report=False)
        except RateLimitedError:
            # A throttled attempt is audited too: a guessing run shows up whole, not only its first attempts.
            await refused("throttled", {"budget": budget.value})
            raise
    account = await api.users.authenticate(email, body.password)
    # An account whose role holds no permission is refused exactly like a wrong password: a different answer
    # would tell a guesser that the password was right.
    if account is None or not api.policy.permissions(account.role):
        await refused("denied")
        raise AuthenticationError("email or password is wrong")
    permissions = api.policy.permissions(account.role)
    await api.limits.clear(Budget.LOGIN_ACCOUNT, email)
    cookie, session = await api.sessions.create(account.id)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=api.settings.session_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=_secure(request, api),
        path="/",
    )
    request.state.principal = Principal(account, "session", session)
    return SessionPublic(
        account=AccountPublic.of(account),
        permissions=sorted(p.value for p in permissions),
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )


@router.post("/auth/logout", name="auth.logout", status_code=204)
async def logout(request: Request, api: Api, principal: Self) -> Response:
    """End the current session and clear its cookie."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await api.sessions.end(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/auth/me", name="auth.me", response_model=SessionPublic)
async def me(api: Api, principal: Self) -> SessionPublic:
    """The signed-in account, its permissions and (for a session) its CSRF token."""
    session = principal.session
    return SessionPublic(
        account=AccountPublic.of(principal.account),
        permissions=sorted(p.value for p in api.policy.permissions(principal.account.role)),
        csrf_token=session.csrf_token if session else None,
        expires_at=session.expires_at if session else None,
    )


@router.get("/auth/tokens", name="tokens.list", response_model=list[TokenPublic])
async def list_tokens(api: Api, principal: Self) -> list[TokenPublic]:
    """The caller's API tokens (never the token strings)."""
    return [TokenPublic.of(info) for info in await api.tokens.list(principal.account.id)]


@router.post("/auth/tokens", name="tokens.create", response_model=TokenPublic, status_code=201)
async def create_token(
    body: TokenCreate,
    api: Api,
    note: Annotated[AuditNote, Depends(audit_note)],
    principal: Self,
) -> TokenPublic:
    """Create a personal API token; the token is shown in this answer only. Send it as `Authorization: Bearer`."""
    token, info = await api.tokens.create(principal.account.id, body.name, body.ttl_days)
    note.resource = f"token:{info.id}"
    note.params = {"name": body.name, "ttl_days": body.ttl_days}
    note.affected = 1
    return TokenPublic.of(info, token)


@router.delete("/auth/tokens/{token_id}", name="tokens.revoke", response_model=TokenPublic)
async def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**62)],
    api: Api,
    note: Annotated[AuditNote, Depends(audit_note)],
    principal: Self,
) -> TokenPublic:
    """Revoke one of the caller's tokens; it stops working at once."""
    info = await api.tokens.revoke(principal.account.id, token_id)
    note.resource = f"token:{token_id}"
    note.affected = 1
    return TokenPublic.of(info)
