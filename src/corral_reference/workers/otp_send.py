"""The otp-send worker: `email.otp` issues a one-time code, keeps only its HMAC, and mails the code."""

from __future__ import annotations

import math
from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.contracts import EmailOtp
from corral_reference.mail import Mailer
from corral_reference.otp import issue_otp, revoke_otp

OTP_TEMPLATE = "otp"
OTP_SUBJECT = "Your one-time code for {{ purpose }}"


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `email.otp` handler; the code appears only in the delivered message, never in the result."""
    mailer = Mailer.from_settings(services.settings)

    async def send_otp(ctx: JobContext, payload: EmailOtp) -> dict[str, Any]:
        issued = await issue_otp(
            services.redis, services.keys, services.settings, payload.userId, payload.purpose, payload.ttlSeconds
        )
        variables = {"code": issued.code, "purpose": payload.purpose, "minutes": math.ceil(payload.ttlSeconds / 60)}
        try:
            content = await mailer.render(OTP_TEMPLATE, OTP_SUBJECT, variables)
            receipt = await mailer.send([payload.to], content, headers={"X-Corral-Job-Id": ctx.job_id})
        except BaseException:
            # An undelivered code must not stay valid; a retry issues a fresh one.
            await revoke_otp(services.redis, services.keys, payload.userId, payload.purpose)
            raise
        return {
            "sent": True,
            "to": payload.to,
            "purpose": payload.purpose,
            "expiresAt": issued.expires_at.isoformat(),
            "ttlSeconds": issued.ttl_seconds,
            "transport": receipt.transport,
            "messageId": receipt.message_id,
        }

    handlers.add("email.otp", send_otp)
