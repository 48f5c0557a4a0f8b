"""The otp-send worker and the OTP service on a real Valkey: only an HMAC is stored, checks are bounded."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from corral.producer import Producer
from corral_reference.mail.maildir import MaildirOutbox
from corral_reference.otp import issue_otp, otp_digest, verify_otp
from corral_reference.workers import otp_send

from reference_peers.messaging_peers import ServicesFactory, fast_registry, finished_job, free_port, handlers_of


@pytest.fixture
async def make_services(settings, redis_client, engine):
    factory = ServicesFactory(settings, redis_client, engine)
    yield factory.make
    await factory.close()


async def run_otp_job(make_services, start_runtime, engine, payload, *, attempts=3, **overrides):
    registry = fast_registry("email", attempts=attempts)
    services = make_services(**overrides)
    await start_runtime(registry, handlers_of(services, otp_send.register), queues=["email"])
    job_id = await Producer(engine, registry).enqueue("email.otp", payload)
    return services, await finished_job(engine, "email", job_id)


async def every_stored_value(redis_client) -> str:
    """Every key and value in the Valkey, as one string."""
    dump = []
    async for key in redis_client.scan_iter():
        kind = await redis_client.type(key)
        if kind == "hash":
            value = await redis_client.hgetall(key)
        elif kind == "string":
            value = await redis_client.get(key)
        elif kind == "list":
            value = await redis_client.lrange(key, 0, -1)
        elif kind == "zset":
            value = await redis_client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(await redis_client.smembers(key))
        elif kind == "stream":
            value = await redis_client.xrange(key)
        else:
            value = kind
        dump.append(f"{key}={value!r}")
    return "\n".join(dump)


async def test_otp_job_mails_a_code_that_verifies_once_and_appears_nowhere_else(
    make_services, start_runtime, engine, settings, redis_client, keys, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    # Given the default Maildir outbox
    # When an email.otp job runs
    services, job = await run_otp_job(
        make_services,
        start_runtime,
        engine,
        {"userId": "user-7", "to": "ada@example.com", "purpose": "login", "ttlSeconds": 300},
    )
    assert job.state == "completed", job.failed_reason
    # Then the user received a 6-digit code by mail
    (message,) = MaildirOutbox(settings.data_dir / "outbox").messages()
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your one-time code for login"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    code = re.search(r"\b(\d{6})\b", text).group(1)
    assert f"<strong>{code}</strong>" in html
    assert "expires in 5 minutes" in text
    # And the result says only that it was sent and when it expires
    result = job.return_value
    assert result["sent"] is True and result["to"] == "ada@example.com" and result["purpose"] == "login"
    expires_at = datetime.fromisoformat(result["expiresAt"])
    assert timedelta(seconds=295) < expires_at - datetime.now(UTC) <= timedelta(seconds=300)
    # And the code is in no job data, result, log record or stored value; only its HMAC is stored, with the TTL
    assert code not in json.dumps(job.data) and code not in json.dumps(result)
    assert caplog.records and all(code not in record.getMessage() for record in caplog.records)
    assert code not in await every_stored_value(redis_client)
    stored = await redis_client.hgetall(keys.otp("user-7", "login"))
    assert stored == {"digest": otp_digest(services.settings, "user-7", "login", code), "attempts": "0"}
    assert 295 <= await redis_client.ttl(keys.otp("user-7", "login")) <= 300
    # And the code verifies once for its user and purpose only, and never again
    assert not await verify_otp(redis_client, keys, settings, "user-8", "login", code)
    assert not await verify_otp(redis_client, keys, settings, "user-7", "signup", code)
    assert await verify_otp(redis_client, keys, settings, "user-7", "login", code)
    assert not await verify_otp(redis_client, keys, settings, "user-7", "login", code)
    assert all(code not in record.getMessage() for record in caplog.records)


async def test_wrong_codes_are_counted_and_the_right_one_still_works_within_the_limit(
    redis_client, keys, settings
) -> None:
    # Given an issued code
    issued = await issue_otp(redis_client, keys, settings, "user-1", "login", 300)
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
    # When four wrong codes (one malformed) are tried
    for attempt in (wrong, wrong, "abc", wrong):
        assert not await verify_otp(redis_client, keys, settings, "user-1", "login", attempt)
    # Then each was counted, and the fifth attempt with the right code succeeds
    assert await redis_client.hget(keys.otp("user-1", "login"), "attempts") == "4"
    assert await verify_otp(redis_client, keys, settings, "user-1", "login", issued.code)
    assert await redis_client.exists(keys.otp("user-1", "login")) == 0


async def test_a_colon_in_the_user_or_purpose_cannot_make_two_codes_share_a_key(redis_client, keys, settings) -> None:
    # Given two (user, purpose) pairs that would both read "otp:a:b:c" if the parts were simply joined
    first = await issue_otp(redis_client, keys, settings, "b:c", "a", 300)
    second = await issue_otp(redis_client, keys, settings, "c", "a:b", 300)
    # Then they have keys of their own, and issuing the second did not replace the first
    assert keys.otp("b:c", "a") != keys.otp("c", "a:b")
    # And each code still verifies for its own pair
    assert await verify_otp(redis_client, keys, settings, "b:c", "a", first.code)
    assert await verify_otp(redis_client, keys, settings, "c", "a:b", second.code)


async def test_five_wrong_codes_void_the_code(redis_client, keys, settings) -> None:
    # Given an issued code and the default limit of 5 attempts
    assert settings.otp_max_attempts == 5
    issued = await issue_otp(redis_client, keys, settings, "user-1", "reset", 300)
    wrong = f"{(int(issued.code) + 1) % 1_000_000:06d}"
    # When five wrong codes are tried
    for _ in range(5):
        assert not await verify_otp(redis_client, keys, settings, "user-1", "reset", wrong)
    # Then the code is gone and even the right one is refused
    assert await redis_client.exists(keys.otp("user-1", "reset")) == 0
    assert not await verify_otp(redis_client, keys, settings, "user-1", "reset", issued.code)


async def test_concurrent_guesses_cannot_exceed_the_limit(valkey_url, redis_client, keys, settings) -> None:
    # Given an issued code
    issued = await issue_otp(redis_client, keys, settings, "user-2", "login", 300)
    candidates = [f"{n:06d}" for n in range(40) if f"{n:06d}" != issued.code][:30] + [issued.code]
    # And a client whose guesses reach the server in the order they are made (one connection, its script loaded
    # first): over a pool of connections a busy machine may deliver the right guess before five wrong ones, which
    # the limit rightly allows
    pool = BlockingConnectionPool.from_url(valkey_url, max_connections=1, decode_responses=True)
    ordered = Redis(connection_pool=pool)
    try:
        assert not await verify_otp(ordered, keys, settings, "nobody", "login", "000000")
        # When 31 guesses race, the right one last
        outcomes = await asyncio.gather(
            *(verify_otp(ordered, keys, settings, "user-2", "login", guess) for guess in candidates)
        )
    finally:
        await ordered.aclose()
        await pool.disconnect()
    # Then none was accepted: the first five wrong guesses voided the code
    assert not any(outcomes)
    assert await redis_client.exists(keys.otp("user-2", "login")) == 0


async def test_an_expired_code_is_refused(redis_client, keys, settings) -> None:
    # Given a code that lives one second
    issued = await issue_otp(redis_client, keys, settings, "user-1", "login", 1)
    # When it is checked after it expired
    await asyncio.sleep(1.2)
    # Then it is refused
    assert not await verify_otp(redis_client, keys, settings, "user-1", "login", issued.code)


async def test_a_new_code_replaces_the_pending_one(redis_client, keys, settings) -> None:
    # Given two codes issued one after the other for the same user and purpose
    first = await issue_otp(redis_client, keys, settings, "user-1", "login", 300)
    second = await issue_otp(redis_client, keys, settings, "user-1", "login", 300)
    # Then only the newest verifies (unless both happen to be the same number)
    if first.code != second.code:
        assert not await verify_otp(redis_client, keys, settings, "user-1", "login", first.code)
    assert await verify_otp(redis_client, keys, settings, "user-1", "login", second.code)
    assert "code" not in repr(second) or second.code not in repr(second)


async def test_undelivered_code_is_revoked(make_services, start_runtime, engine, redis_client, keys) -> None:
    # Given an SMTP server that cannot be reached
    # When an email.otp job fails to deliver on every attempt
    _, job = await run_otp_job(
        make_services,
        start_runtime,
        engine,
        {"userId": "user-3", "to": "ada@example.com", "purpose": "login"},
        attempts=2,
        mail_url=f"smtp+plain://127.0.0.1:{free_port()}",
    )
    # Then the job failed after retrying, and no code stays valid
    assert job.state == "failed"
    assert job.attempts_made == 2
    assert await redis_client.exists(keys.otp("user-3", "login")) == 0
