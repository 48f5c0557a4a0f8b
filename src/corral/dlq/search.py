"""The DLQ search syntax: `key:value` terms and free words in one text, turned into a filter.

Keys: `queue`, `name`, `job` (or `job_id`, `id`), `fp` (or `fingerprint`, a prefix of 4+ hex characters), `replays`,
`status`, `release`, `error` (words of the reason), `since`, `until` (a date, a date and time, or epoch ms) and every
searchable payload field (`to:alice@example.com`). A value with spaces is quoted (`error:"timed out"`); quoted text
without a key is searched as free text. An unknown key is refused, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from corral.errors import FieldError, InvalidRequestError

if TYPE_CHECKING:
    from corral.dlq.query import DlqFilter

KEYS = {
    "queue": "queue",
    "name": "name",
    "job": "job_id",
    "job_id": "job_id",
    "id": "job_id",
    "fp": "fingerprint",
    "fingerprint": "fingerprint",
    "replays": "replays",
    "status": "status",
    "release": "release",
    "error": "error",
    "since": "since_ms",
    "until": "until_ms",
}
_TERM = re.compile(r'([A-Za-z_][\w.]*):"([^"]*)"|([A-Za-z_][\w.]*):(\S+)|"([^"]*)"|(\S+)')


def _time(key: str, value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        reason = f"{key}: a date (2030-01-31), a date and time or epoch ms"
        raise InvalidRequestError(f"invalid search: {key}:{value}", [FieldError("q", reason)]) from None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def parse_search(text: str, searchable: Sequence[str]) -> tuple[dict[str, object], list[tuple[str, str]], str | None]:
    """The filter conditions, payload `field:value` pairs and remaining free text of a search; raises
    InvalidRequestError naming an unknown key or a bad value."""
    conditions: dict[str, object] = {}
    pairs: list[tuple[str, str]] = []
    words: list[str] = []
    for match in _TERM.finditer(text):
        key = match.group(1) or match.group(3)
        value = match.group(2) if match.group(1) else match.group(4)
        if key is None:
            words.append(match.group(5) if match.group(5) is not None else match.group(6))
            continue
        assert value is not None
        lowered = key.lower()
        if lowered in KEYS:
            target = KEYS[lowered]
            if target == "replays":
                if not value.isdigit():
                    raise InvalidRequestError(f"invalid search: {key}:{value}", [FieldError("q", "replays: a number")])
                conditions[target] = int(value)
            elif target in ("since_ms", "until_ms"):
                conditions[target] = _time(lowered, value)
            else:
                conditions[target] = value
        elif key in searchable:
            pairs.append((key, value))
        else:
            known = ", ".join([*KEYS, *searchable])
            raise InvalidRequestError(
                f"unknown search key {key!r}",
                [FieldError("q", f"unknown key {key!r}; keys: {known}; quote text to search it as is")],
            )
    return conditions, pairs, " ".join(word for word in words if word) or None


def expand(flt: DlqFilter, searchable: Sequence[str]) -> DlqFilter:
    """The filter with its free text's `key:value` terms moved into their conditions; a term that contradicts a
    condition given apart is refused."""
    if not flt.text:
        return flt
    conditions, pairs, rest = parse_search(flt.text, searchable)
    for name, value in conditions.items():
        given = getattr(flt, name)
        if given is not None and given != value:
            raise InvalidRequestError(
                f"invalid search: {name} given twice", [FieldError("q", f"{name} is also given apart ({given!r})")]
            )
    return replace(flt, **conditions, fields=(*flt.fields, *pairs), text=rest)  # type: ignore[arg-type]
