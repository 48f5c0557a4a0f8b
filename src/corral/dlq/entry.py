"""The DLQ entry: what Corral keeps of a job that died."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


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
    replays: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> DeadLetterEntry:
        """Build an entry from the Redis hash written by the capture script."""
        return cls(
            id=raw["id"],
            queue=raw["queue"],
            job_id=raw["jobId"],
            name=raw.get("name", ""),
            data=_json_object(raw.get("data", "{}")),
            opts=_json_object(raw.get("opts", "{}")),
            failed_reason=raw.get("failedReason", ""),
            stacktrace=_json_list(raw.get("stacktrace", "[]")),
            attempts_made=_int(raw.get("attemptsMade")),
            created_at=_int(raw.get("createdAt")),
            processed_on=_int(raw.get("processedOn")),
            failed_at=_int(raw.get("failedAt")),
            captured_at=_int(raw.get("capturedAt")),
            fingerprint=raw.get("fingerprint", ""),
            reason_pattern=raw.get("reasonPattern", ""),
            replay_count=_int(raw.get("replayCount")),
            replays=_json_list(raw.get("replays", "[]")),
        )


def _int(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
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
