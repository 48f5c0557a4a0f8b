"""Mail: templates, RFC 5322 messages, and transports (a Maildir outbox by default, SMTP by URL)."""

from corral_reference.mail.mailer import Mailer
from corral_reference.mail.message import MailContent, build_message, html_to_text
from corral_reference.mail.templates import BUILTIN_TEMPLATES, TemplateRegistry, TemplateRenderError
from corral_reference.mail.transport import DeliveryReceipt, MailTransport, transport_from_settings

__all__ = [
    "BUILTIN_TEMPLATES",
    "DeliveryReceipt",
    "MailContent",
    "MailTransport",
    "Mailer",
    "TemplateRegistry",
    "TemplateRenderError",
    "build_message",
    "html_to_text",
    "transport_from_settings",
]
