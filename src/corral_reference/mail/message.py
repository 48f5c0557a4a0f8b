"""Building RFC 5322 messages: headers, a text part, an HTML part, or both as multipart/alternative."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default
from email.utils import formatdate, getaddresses, make_msgid
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})


@dataclass(frozen=True)
class MailContent:
    """The subject and bodies of one message; at least one of text and html is set."""

    subject: str
    text: str | None = None
    html: str | None = None


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML document, breaking lines at block elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(self._skipping - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, for the plain-text alternative of an HTML-only message."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(extractor.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def sender_domain(sender: str) -> str:
    """The domain of a From address (`Name <user@domain>`), used for Message-IDs; `localhost` when absent."""
    addresses = getaddresses([sender])
    address = addresses[0][1] if addresses else ""
    return address.rpartition("@")[2] or "localhost"


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    content: MailContent,
    reply_to: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """An RFC 5322 message with Date, Message-ID, From, To, Subject and optional Reply-To.

    A message with both bodies is multipart/alternative (text first, as RFC 2046 asks); an HTML-only
    message gets a text alternative extracted from the HTML.
    """
    if content.text is None and content.html is None:
        raise ValueError("a message needs a text or an HTML body")
    message = EmailMessage(policy=default)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender_domain(sender))
    message["From"] = sender
    message["To"] = [Address(addr_spec=address) for address in to]
    message["Subject"] = content.subject
    if reply_to:
        message["Reply-To"] = reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    text = content.text if content.text is not None else html_to_text(content.html or "")
    message.set_content(text, subtype="plain", cte="quoted-printable")
    if content.html is not None:
        message.add_alternative(content.html, subtype="html", cte="quoted-printable")
    return message


def recipients_of(message: EmailMessage) -> list[str]:
    """The envelope recipients of a message: every address in To, Cc and Bcc."""
    fields = [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]
    return [address for _, address in getaddresses(fields) if address]
