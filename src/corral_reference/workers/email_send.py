"""The email-send worker: `email.send` renders a template or takes inline bodies and delivers the message."""

from __future__ import annotations

from typing import Any

from corral.handlers import HandlerSet, JobContext
from corral.worker_services import WorkerServices
from corral_reference.contracts import EmailSend
from corral_reference.mail import DeliveryReceipt, MailContent, Mailer


def receipt_result(receipt: DeliveryReceipt) -> dict[str, Any]:
    """A delivery receipt as a job result (no message bodies)."""
    result: dict[str, Any] = {
        "transport": receipt.transport,
        "messageId": receipt.message_id,
        "accepted": receipt.accepted,
        "refused": receipt.refused,
    }
    if receipt.location is not None:
        result["location"] = receipt.location
    return result


def register(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the `email.send` handler, delivering through the transport chosen by `mail_url`."""
    mailer = Mailer.from_settings(services.settings)

    async def send_email(ctx: JobContext, payload: EmailSend) -> dict[str, Any]:
        if payload.templateId is not None:
            content = await mailer.render(payload.templateId, payload.subject, payload.vars or {})
        else:
            content = MailContent(subject=payload.subject, text=payload.text, html=payload.html)
        receipt = await mailer.send(
            [str(address) for address in payload.to],
            content,
            reply_to=payload.replyTo,
            headers={"X-Corral-Job-Id": ctx.job_id},
        )
        return receipt_result(receipt)

    handlers.add("email.send", send_email)
