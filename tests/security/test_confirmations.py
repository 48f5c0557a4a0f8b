"""Double-confirmation tokens: single use, bound to actor, action and parameters, and short-lived."""

from __future__ import annotations

import asyncio

import pytest

from corral.errors import ConfirmationRequiredError
from corral.security.confirmations import Confirmations


async def test_token_is_single_use_and_bound(redis_client, keys) -> None:
    confirmations = Confirmations(redis_client, keys)
    ticket = await confirmations.issue("owner@example.com", "dlq.clear", {"queue": None}, "clear dlq")
    with pytest.raises(ConfirmationRequiredError, match="another user"):
        await confirmations.redeem(ticket.token, "clear dlq", "eve@example.com", "dlq.clear", {"queue": None})
    with pytest.raises(ConfirmationRequiredError, match="another user, action or parameters"):
        await confirmations.redeem(ticket.token, "clear dlq", "owner@example.com", "dlq.clear", {"queue": "email"})
    with pytest.raises(ConfirmationRequiredError, match="type 'clear dlq' exactly"):
        await confirmations.redeem(ticket.token, "clear", "owner@example.com", "dlq.clear", {"queue": None})
    await confirmations.redeem(ticket.token, "clear dlq", "owner@example.com", "dlq.clear", {"queue": None})
    with pytest.raises(ConfirmationRequiredError, match="already used or expired"):
        await confirmations.redeem(ticket.token, "clear dlq", "owner@example.com", "dlq.clear", {"queue": None})


async def test_token_expires(redis_client, keys) -> None:
    confirmations = Confirmations(redis_client, keys, ttl_seconds=1)
    ticket = await confirmations.issue("owner@example.com", "queues.purge", {"queue": "email"}, "email")
    await asyncio.sleep(1.3)
    with pytest.raises(ConfirmationRequiredError, match="expired"):
        await confirmations.redeem(ticket.token, "email", "owner@example.com", "queues.purge", {"queue": "email"})


async def test_missing_token_says_how_to_get_one(redis_client, keys) -> None:
    with pytest.raises(ConfirmationRequiredError, match="call without one first"):
        await Confirmations(redis_client, keys).redeem(None, None, "o", "a", {})
