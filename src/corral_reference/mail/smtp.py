"""The production mail back-end: SMTP by URL, with STARTTLS or implicit TLS, authentication and timeouts."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

from corral.errors import ConfigurationError, JobFailure, UnrecoverableJobError
from corral_reference.mail.message import recipients_of
from corral_reference.mail.transport import DeliveryReceipt

logger = logging.getLogger(__name__)

Security = Literal["starttls", "tls", "none"]
SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp": ("starttls", 587),
    "smtps": ("tls", 465),
    "smtp+plain": ("none", 25),
}
"""URL scheme -> (transport security, default port). `smtp+plain` sends in clear text: for tests only."""


@dataclass(frozen=True)
class SmtpTransport:
    """Delivers over SMTP, one connection per message; STARTTLS is required for `smtp://` URLs."""

    host: str
    port: int
    security: Security
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_seconds: float = 15.0
    name: str = "smtp"

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float) -> SmtpTransport:
        """A transport from `smtp://user:pass@host:587`, `smtps://...` or `smtp+plain://...`."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ConfigurationError(f"mail_url: scheme must be one of {', '.join(SCHEMES)}, not {parts.scheme!r}")
        if not parts.hostname:
            raise ConfigurationError("mail_url: a host is required")
        security, default_port = SCHEMES[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ConfigurationError("mail_url: the port is not a number between 0 and 65535") from None
        return cls(
            host=parts.hostname,
            port=port,
            security=security,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            timeout_seconds=timeout_seconds,
        )

    @property
    def address(self) -> str:
        """`host:port`, for messages."""
        return f"{self.host}:{self.port}"

    async def deliver(self, message: EmailMessage) -> DeliveryReceipt:
        """Send one message; transient SMTP or network trouble raises JobFailure, permanent UnrecoverableJobError."""
        recipients = recipients_of(message)
        try:
            refused = await asyncio.to_thread(self._send, message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _recipients_error(exc.recipients) from None
        except smtplib.SMTPAuthenticationError as exc:
            text = f"SMTP server {self.address} refused the credentials ({exc.smtp_code})"
            raise UnrecoverableJobError(text) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise UnrecoverableJobError(f"SMTP server {self.address}: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            detail = _decode(exc.smtp_error)
            text = f"SMTP server {self.address} answered {exc.smtp_code}: {detail}"
            raise (UnrecoverableJobError(text) if exc.smtp_code >= 500 else JobFailure(text)) from None
        except ssl.SSLCertVerificationError as exc:
            raise UnrecoverableJobError(f"SMTP server {self.address}: TLS certificate not trusted: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise JobFailure(f"SMTP server {self.address} unreachable: {type(exc).__name__}: {exc}") from None
        logger.info("mail %s sent through %s", message["Message-ID"], self.address)
        return DeliveryReceipt(
            transport=self.name,
            message_id=str(message["Message-ID"]),
            accepted=[address for address in recipients if address not in refused],
            refused=refused,
        )

    def _send(self, message: EmailMessage) -> dict[str, str]:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_seconds, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        with client:
            client.ehlo()
            if self.security == "starttls":
                if not client.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(
                        "the server does not offer STARTTLS, which smtp:// requires (smtps:// is implicit TLS)"
                    )
                client.starttls(context=context)
                client.ehlo()
            if self.username:
                client.login(self.username, self.password)
            refused = client.send_message(message)
        return {address: f"{code} {_decode(reply)}" for address, (code, reply) in refused.items()}


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _recipients_error(refused: dict[str, tuple[int, bytes]]) -> JobFailure:
    """Every recipient refused: permanent when every refusal was a 5xx, else worth a retry."""
    detail = "; ".join(f"{address}: {code} {_decode(reply)}" for address, (code, reply) in refused.items())
    text = f"every recipient was refused: {detail}"
    if all(code >= 500 for code, _ in refused.values()):
        return UnrecoverableJobError(text)
    return JobFailure(text)
