"""The mail service the workers use: renders templates, builds messages, hands them to the transport."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from corral.settings import Settings
from corral_reference.mail.message import MailContent, build_message
from corral_reference.mail.templates import BoundedRenderer, template_directory
from corral_reference.mail.transport import DeliveryReceipt, MailTransport, transport_from_settings
from corral_reference.settings import ReferenceSettings


class Mailer:
    """Composes and delivers messages from one sender through one transport."""

    def __init__(self, transport: MailTransport, templates: BoundedRenderer, sender: str) -> None:
        self.transport = transport
        self.templates = templates
        self.sender = sender

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        """A mailer with the transport chosen by `mail_url` and templates from `<data_dir>/mail-templates`."""
        settings = ReferenceSettings.of(settings)
        return cls(
            transport_from_settings(settings),
            BoundedRenderer(template_directory(settings.data_dir), settings.mail_render_timeout_seconds),
            settings.mail_from,
        )

    async def render(self, template_id: str, subject: str, variables: Mapping[str, Any]) -> MailContent:
        """Template `template_id` rendered with `variables`, in a render process bounded in time and memory."""
        return await self.templates.render(template_id, subject, variables)

    async def send(
        self,
        to: Sequence[str],
        content: MailContent,
        *,
        reply_to: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DeliveryReceipt:
        """Build one message from `content` and deliver it to every address of `to`."""
        message = build_message(sender=self.sender, to=to, content=content, reply_to=reply_to, headers=headers)
        return await self.transport.deliver(message)
