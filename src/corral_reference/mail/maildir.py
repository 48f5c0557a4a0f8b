"""The default mail back-end: every message written to a Maildir folder that any mail tool opens."""

from __future__ import annotations

import asyncio
import logging
import mailbox
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from corral_reference.mail.message import recipients_of
from corral_reference.mail.transport import DeliveryReceipt

logger = logging.getLogger(__name__)


class MaildirOutbox:
    """Writes messages into a Maildir (`new/` holds one RFC 5322 file per message); nothing leaves the machine."""

    name = "maildir"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _add(self, message: EmailMessage) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(self.path, create=True)
        key = box.add(message)
        return str(self.path / "new" / key)

    async def deliver(self, message: EmailMessage) -> DeliveryReceipt:
        """Store the message as a new Maildir file; returns its path as the receipt's location."""
        location = await asyncio.to_thread(self._add, message)
        logger.info("mail %s written to the outbox %s", message["Message-ID"], self.path)
        return DeliveryReceipt(
            transport=self.name,
            message_id=str(message["Message-ID"]),
            accepted=recipients_of(message),
            location=location,
        )

    def messages(self) -> list[EmailMessage]:
        """Every message in the outbox, parsed, in no particular order."""
        box = mailbox.Maildir(self.path, create=True)
        return [message_from_bytes(box.get_bytes(key), policy=default) for key in box.keys()]
