"""Accounts: create, list, disable, authenticate; the first owner is created on first start."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from corral.errors import ConflictError, FieldError, InvalidRequestError, NotFoundError
from corral.security.passwords import generate_password, hash_password, password_problem, verify_password
from corral.security.permissions import Role
from corral.sql import Database, utcnow
from corral.sql.security_models import User

logger = logging.getLogger(__name__)

_email = TypeAdapter(EmailStr)


@dataclass(frozen=True)
class Account:
    """An account as the rest of Corral sees it (never with its password hash)."""

    id: int
    email: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None
    last_login_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the account may sign in and use its tokens."""
        return self.disabled_at is None

    @classmethod
    def of(cls, user: User) -> Account:
        """The public view of a stored user."""
        return cls(user.id, user.email, Role(user.role), user.created_at, user.disabled_at, user.last_login_at)


def normalise_email(email: str) -> str:
    """The email validated and lower-cased; raises InvalidRequestError naming the field."""
    try:
        return str(_email.validate_python(email.strip())).lower()
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["msg"]
        raise InvalidRequestError(f"email: {reason}", [FieldError("email", reason)]) from None


class UserService:
    """Accounts in the SQL store."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _create(self, email: str, role: Role, password: str) -> Account:
        address = normalise_email(email)
        problem = password_problem(password)
        if problem:
            raise InvalidRequestError(f"password: {problem}", [FieldError("password", problem)])
        with self.database.transaction() as session:
            if session.scalar(select(User.id).where(User.email == address)) is not None:
                raise ConflictError(f"an account with email {address} already exists")
            user = User(email=address, password_hash=hash_password(password), role=Role(role).value)
            session.add(user)
            try:
                session.flush()
            except IntegrityError:  # a concurrent create of the same email won the race
                raise ConflictError(f"an account with email {address} already exists") from None
            return Account.of(user)

    async def create(self, email: str, role: Role, password: str) -> Account:
        """Create an account; refuses a taken email or a weak password, naming the field."""
        return await asyncio.to_thread(self._create, email, role, password)

    def _list(self) -> list[Account]:
        with self.database.transaction() as session:
            return [Account.of(user) for user in session.scalars(select(User).order_by(User.id))]

    async def list(self) -> list[Account]:
        """Every account, oldest first."""
        return await asyncio.to_thread(self._list)

    def _get(self, user_id: int) -> Account | None:
        with self.database.transaction() as session:
            user = session.get(User, user_id)
            return Account.of(user) if user else None

    async def get(self, user_id: int) -> Account | None:
        """One account by id, or None."""
        return await asyncio.to_thread(self._get, user_id)

    def _disable(self, email: str) -> Account:
        address = normalise_email(email)
        with self.database.transaction() as session:
            user = session.scalar(select(User).where(User.email == address))
            if user is None:
                raise NotFoundError(f"no account with email {address}")
            if user.role == Role.OWNER.value and user.disabled_at is None:
                owners = session.scalar(
                    select(func.count()).select_from(User).where(User.role == "owner", User.disabled_at.is_(None))
                )
                if (owners or 0) <= 1:
                    raise ConflictError("cannot disable the last active owner")
            user.disabled_at = user.disabled_at or utcnow()
            return Account.of(user)

    async def disable(self, email: str) -> Account:
        """Disable an account: it can no longer sign in nor use its tokens; the last owner cannot be disabled."""
        return await asyncio.to_thread(self._disable, email)

    def _set_password(self, email: str, password: str) -> Account:
        address = normalise_email(email)
        problem = password_problem(password)
        if problem:
            raise InvalidRequestError(f"password: {problem}", [FieldError("password", problem)])
        with self.database.transaction() as session:
            user = session.scalar(select(User).where(User.email == address))
            if user is None:
                raise NotFoundError(f"no account with email {address}")
            user.password_hash = hash_password(password)
            return Account.of(user)

    async def set_password(self, email: str, password: str) -> Account:
        """Replace an account's password (for example the first owner's one-time password)."""
        return await asyncio.to_thread(self._set_password, email, password)

    def _set_role(self, email: str, role: Role) -> Account:
        address = normalise_email(email)
        with self.database.transaction() as session:
            user = session.scalar(select(User).where(User.email == address))
            if user is None:
                raise NotFoundError(f"no account with email {address}")
            if user.role == Role.OWNER.value and role is not Role.OWNER and user.disabled_at is None:
                owners = session.scalar(
                    select(func.count()).select_from(User).where(User.role == "owner", User.disabled_at.is_(None))
                )
                if (owners or 0) <= 1:
                    raise ConflictError("cannot change the role of the last active owner")
            user.role = Role(role).value
            return Account.of(user)

    async def set_role(self, email: str, role: Role) -> Account:
        """Give an account another role; the last active owner keeps hers."""
        return await asyncio.to_thread(self._set_role, email, role)

    def _authenticate(self, email: str, password: str) -> Account | None:
        address = email.strip().lower()[:320]
        with self.database.transaction() as session:
            user = session.scalar(select(User).where(User.email == address))
            # Verify even for unknown or disabled accounts, so every failure costs the same time.
            matches = verify_password(user.password_hash if user else None, password)
            if user is None or not matches or user.disabled_at is not None:
                return None
            user.last_login_at = utcnow()
            return Account.of(user)

    async def authenticate(self, email: str, password: str) -> Account | None:
        """The account for these credentials, or None; unknown, disabled and wrong answer alike."""
        return await asyncio.to_thread(self._authenticate, email, password)

    def _has_owner(self) -> bool:
        with self.database.transaction() as session:
            return session.scalar(select(User.id).where(User.role == "owner").limit(1)) is not None

    async def ensure_owner(self, email: str, password: str) -> str | None:
        """Create the first owner when there is none; returns a generated one-time password, or None."""
        if await asyncio.to_thread(self._has_owner):
            return None
        generated = None if password else generate_password()
        await self.create(email, Role.OWNER, password or generated or "")
        logger.info("created the first owner account %s", email)
        return generated
