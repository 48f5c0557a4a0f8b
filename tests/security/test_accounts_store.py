"""Accounts, tokens and the audit trail on the SQL store, over SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from corral.errors import ConflictError, InvalidRequestError, NotFoundError
from corral.security.audit import AuditEntry, AuditFilter, AuditTrail
from corral.security.permissions import Role
from corral.security.tokens import TokenService
from corral.security.users import UserService
from corral.sql import Database


async def test_accounts_lifecycle(database: Database) -> None:
    users = UserService(database)
    # Given an owner
    owner = await users.create("Owner@Example.com", Role.OWNER, "a long enough password")
    assert owner.email == "owner@example.com" and owner.role is Role.OWNER
    # Then the email is unique, case-insensitively, and weak passwords are refused
    with pytest.raises(ConflictError):
        await users.create("OWNER@example.com", Role.VIEWER, "a long enough password")
    with pytest.raises(InvalidRequestError) as weak:
        await users.create("v@example.com", Role.VIEWER, "short")
    assert weak.value.errors[0].field == "password"
    with pytest.raises(InvalidRequestError) as bad_email:
        await users.create("not-an-email", Role.VIEWER, "a long enough password")
    assert bad_email.value.errors[0].field == "email"
    # And authentication accepts only the right password of an active account
    assert await users.authenticate("owner@example.com", "a long enough password") is not None
    assert await users.authenticate("owner@example.com", "wrong") is None
    assert await users.authenticate("ghost@example.com", "a long enough password") is None
    # The last owner cannot be disabled; a second one can
    with pytest.raises(ConflictError):
        await users.disable("owner@example.com")
    await users.create("second@example.com", Role.OWNER, "a long enough password")
    disabled = await users.disable("second@example.com")
    assert not disabled.active
    assert await users.authenticate("second@example.com", "a long enough password") is None
    with pytest.raises(NotFoundError):
        await users.disable("ghost@example.com")
    # A password can be replaced
    await users.set_password("owner@example.com", "a brand new password")
    assert await users.authenticate("owner@example.com", "a brand new password") is not None


async def test_first_owner_is_created_once(database: Database) -> None:
    users = UserService(database)
    generated = await users.ensure_owner("boss@example.com", "")
    assert generated and len(generated) >= 16
    assert await users.authenticate("boss@example.com", generated) is not None
    assert await users.ensure_owner("boss@example.com", "") is None
    assert len(await users.list()) == 1


async def test_tokens_are_stored_hashed_and_stop_on_revoke_expiry_or_disable(database: Database) -> None:
    users, tokens = UserService(database), TokenService(database)
    owner = await users.create("o@example.com", Role.OWNER, "a long enough password")
    other = await users.create("p@example.com", Role.OWNER, "a long enough password")
    token, info = await tokens.create(owner.id, "ci")
    # The token is not stored
    with database.engine.connect() as connection:
        stored = [row[0] for row in connection.exec_driver_sql("SELECT token_hash FROM api_tokens")]
    assert token not in stored and len(stored[0]) == 64
    assert (await tokens.authenticate(token)) is not None
    # Another account cannot revoke it
    with pytest.raises(NotFoundError):
        await tokens.revoke(other.id, info.id)
    await tokens.revoke(owner.id, info.id)
    assert await tokens.authenticate(token) is None
    # Disabling the account stops its other tokens
    second, _ = await tokens.create(other.id, "two")
    await users.disable("p@example.com")
    assert await tokens.authenticate(second) is None
    assert await tokens.authenticate("crl_made_up") is None


async def test_concurrent_account_creation_makes_one(database: Database) -> None:
    users = UserService(database)
    results = await asyncio.gather(
        *(users.create("race@example.com", Role.OWNER, "a long enough password") for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ConflictError) or not isinstance(r, BaseException) for r in results)


async def test_audit_trail_redacts_and_filters(database: Database) -> None:
    trail = AuditTrail(database)
    await trail.record(AuditEntry("a@example.com", "queues.pause", "queue:email", {"token": "crl_x", "n": 1}))
    await trail.record(AuditEntry("b@example.com", "jobs.retry", "job:email/1", result="error 404"))
    rows = await trail.page(AuditFilter(actor="a@example.com"))
    assert [(r.action, r.params) for r in rows] == [("queues.pause", {"token": "[redacted]", "n": 1})]
    assert [r.action for r in await trail.page(AuditFilter(resource="job:"))] == ["jobs.retry"]
    await trail.record_access("a@example.com", "job", ["1", "2"], {"queue": "email"}, "127.0.0.1")
    assert (await trail.accesses(1))[0].target_ids == ["1", "2"]
