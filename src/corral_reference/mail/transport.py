"""The mail transport interface and the choice of back-end from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from corral.settings import Settings
from corral_reference.settings import ReferenceSettings


@dataclass(frozen=True)
class DeliveryReceipt:
    """What a transport reports after accepting a message."""

    transport: str
    message_id: str
    accepted: list[str]
    refused: dict[str, str] = field(default_factory=dict)
    location: str | None = None


class MailTransport(Protocol):
    """Delivers finished messages; raises JobFailure for a transient problem, UnrecoverableJobError otherwise."""

    @property
    def name(self) -> str:
        """A short name of the back-end, reported in job results (`maildir`, `smtp`)."""
        ...

    async def deliver(self, message: EmailMessage) -> DeliveryReceipt:
        """Deliver one message to every recipient in its To/Cc/Bcc headers."""
        ...


def transport_from_settings(settings: Settings) -> MailTransport:
    """The Maildir outbox under `<data_dir>/outbox` when `mail_url` is empty, else SMTP by URL."""
    from corral_reference.mail.maildir import MaildirOutbox
    from corral_reference.mail.smtp import SmtpTransport

    settings = ReferenceSettings.of(settings)
    url = settings.mail_url.get_secret_value()
    if not url:
        return MaildirOutbox(settings.data_dir / "outbox")
    return SmtpTransport.from_url(url, timeout_seconds=settings.mail_timeout_seconds)
