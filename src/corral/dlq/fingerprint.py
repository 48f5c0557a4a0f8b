"""Error fingerprints: a failure reason with its variable parts normalised, so alike failures group."""

from __future__ import annotations

import hashlib
import re

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"), "<str>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\bhttps?://\S+"), "<url>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\b[A-Za-z]*\d[\w-]*\b"), "<id>"),
    (re.compile(r"\s+"), " "),
)


def normalise_reason(reason: str) -> str:
    """The reason with quoted values, ids, numbers, emails, URLs and addresses replaced by placeholders."""
    text = reason.strip()[:2_000]
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


def fingerprint(reason: str) -> str:
    """A short stable hash of the normalised reason; equal for failures that differ only in values."""
    return hashlib.blake2b(normalise_reason(reason).encode(), digest_size=8).hexdigest()


_PLACEHOLDERS = re.compile(r"<(?:str|uuid|email|url|ip|hex|id)>")
_WORD = re.compile(r"[a-z][a-z0-9_]+")
MAX_TOKENS = 64


def search_tokens(text: str) -> list[str]:
    """The distinct words (two characters or more, lower-cased) of a reason or a query, without placeholders."""
    words = _WORD.findall(_PLACEHOLDERS.sub(" ", normalise_reason(text)).lower())
    return list(dict.fromkeys(words))[:MAX_TOKENS]
