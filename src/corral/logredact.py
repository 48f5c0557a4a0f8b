"""A logging filter that removes credentials from every line: tokens in URLs, bearer values, cookies, passwords,
and the secret payload values of the job whose handler is running.

Corral never logs a secret on purpose; this is the net under the libraries it runs on (uvicorn logs a WebSocket's
path with its query string, a `?token=` included, and `websockets` logs request headers at debug level) and under
handlers that log their payload (the runtime names the running job's secret values in a context variable).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REDACTED = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Query parameters that carry credentials: ?token=..., &access_token=..., &password=...
    (
        re.compile(r"([?&;](?:token|access_token|api_key|apikey|password|secret|code)=)[^&\s\"'#]+", re.I),
        rf"\1{REDACTED}",
    ),
    # The WebSocket subprotocol form `bearer.<token>`, and Corral's API tokens wherever they appear.
    (re.compile(r"\bbearer\.[A-Za-z0-9_.~+/=-]+", re.I), f"bearer.{REDACTED}"),
    (re.compile(r"crl_[A-Za-z0-9_-]+"), f"crl_{REDACTED}"),
    # Authorization and CSRF header values, session cookies.
    (re.compile(r"\b([Bb]earer|[Bb]asic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1\2{REDACTED}"),
    (re.compile(r"(x-csrf-token['\"]?\s*[:=,]\s*['\"]?)[^\s\"',;]+", re.I), rf"\1{REDACTED}"),
    (re.compile(r"(corral_session=)[^;\s\"',]+"), rf"\1{REDACTED}"),
    # Passwords inside URLs: scheme://user:password@host
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.I), rf"\1{REDACTED}@"),
)


# The exact secret payload values of the job whose handler runs in this context (and the tasks it starts).
_JOB_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("corral_job_secrets", default=())


@contextmanager
def job_secrets(values: tuple[str, ...]) -> Iterator[None]:
    """Within the block, every line logged in this context has these values (longest first) replaced by `***`."""
    token = _JOB_SECRETS.set(values)
    try:
        yield
    finally:
        _JOB_SECRETS.reset(token)


def redact_secrets(text: str) -> str:
    """`text` with every credential-looking value, and the running job's secret values, replaced by `***`."""
    for secret in _JOB_SECRETS.get():
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback) with credentials redacted; never drops a record."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error reporting
            return True
        redacted = redact_secrets(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_secrets(record.exc_text)
        return True


def install(handler: logging.Handler) -> None:
    """Redact every record `handler` writes (entry points call this on the handlers they configure)."""
    if not any(isinstance(existing, RedactSecrets) for existing in handler.filters):
        handler.addFilter(RedactSecrets())
