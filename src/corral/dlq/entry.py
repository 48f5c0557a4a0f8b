"""The DLQ entry: what Corral keeps of a job that died, and what was done with it since."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ReplayStatus(StrEnum):
    """What became of an entry's replays: never replayed, the last replay pending, succeeded or died again."""

    NEVER = "never"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DIED = "died"


REPLAY_STATUSES: tuple[ReplayStatus, ...] = tuple(ReplayStatus)
# The last replay has an outcome.
FINISHED_REPLAY_STATUSES = frozenset({ReplayStatus.SUCCEEDED, ReplayStatus.DIED})
# The fixed fields packed, in this order, into an entry's `meta` array by the capture script (lua/common.lua).
META = (
    "queue",
    "job_id",
    "name",
    "attempts_made",
    "created_at",
    "processed_on",
    "failed_at",
    "captured_at",
    "fingerprint",
)


@dataclass(frozen=True)
class DeadLetterEntry:
    """A dead job: where it came from, what it carried, why it died and what was done with it since."""

    id: str
    queue: str
    job_id: str
    name: str
    data: dict[str, Any]
    opts: dict[str, Any]
    failed_reason: str
    stacktrace: list[str]
    attempts_made: int
    created_at: int
    processed_on: int
    failed_at: int
    captured_at: int
    fingerprint: str
    reason_pattern: str
    replay_count: int = 0
    status: ReplayStatus = ReplayStatus.NEVER
    replays: list[dict[str, Any]] = field(default_factory=list)
    # The same job dying again after its capture (retried from its queue): {count, at, reason} of the latest.
    died_again: dict[str, Any] | None = None
    # The release of the worker that captured it ('' when none was known).
    release: str = ""

    @classmethod
    def from_hash(cls, entry_id: str, raw: dict[str, str], pattern: str = "") -> DeadLetterEntry:
        """Build an entry from the Redis hash written by the capture, replay and outcome scripts."""
        meta = dict(zip(META, _json_list(raw.get("meta", "[]")), strict=False))
        count_text, _, status = raw.get("replays", "0:never").partition(":")
        count = _int(count_text)
        replays = []
        for number in range(1, count + 1):
            record = _json_object(raw.get(f"replay:{number}", "{}"))
            record["number"] = number
            outcome = raw.get(f"outcome:{number}")
            record["outcome"] = _json_object(outcome) if outcome else None
            replays.append(record)
        return cls(
            id=entry_id,
            queue=str(meta.get("queue", "")),
            job_id=str(meta.get("job_id", "")),
            name=str(meta.get("name", "")),
            data=_json_object(raw.get("data", "{}")),
            opts=_json_object(raw.get("opts", "{}")),
            failed_reason=raw.get("reason", ""),
            stacktrace=_json_list(raw.get("stack", "[]")),
            attempts_made=_int(meta.get("attempts_made")),
            created_at=_int(meta.get("created_at")),
            processed_on=_int(meta.get("processed_on")),
            failed_at=_int(meta.get("failed_at")),
            captured_at=_int(meta.get("captured_at")),
            fingerprint=str(meta.get("fingerprint", "")),
            reason_pattern=pattern,
            replay_count=count,
            status=ReplayStatus(status or ReplayStatus.NEVER),
            replays=replays,
            died_again=_json_object(raw["again"]) if raw.get("again") else None,
            release=raw.get("release", ""),
        )


def _int(value: Any) -> int:
    try:
        return int(float(value or 0))
    except (TypeError, ValueError):
        return 0


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_value": value}


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return value if isinstance(value, list) else [value]
