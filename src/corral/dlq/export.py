"""Streamed DLQ exports: CSV (formula-neutralised cells) and JSON Lines, batch by batch; memory stays flat."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Literal

from corral.contracts.secrets import Path, mask, redact, secret_values
from corral.csvsafe import FORMULA_STARTS
from corral.dlq.query import DlqFilter, DlqQuery

ExportFormat = Literal["csv", "jsonl"]
CSV_HEADER = (
    "entry_id",
    "queue",
    "job_id",
    "name",
    "failed_at",
    "attempts_made",
    "replay_count",
    "status",
    "fingerprint",
    "failed_reason",
    "payload",
    "release",
)
BATCH = 2_000
# The first characters corral.csvsafe neutralises, as a set for a per-cell test in the hot loop.
FORMULA_FIRST = frozenset(FORMULA_STARTS)
REASON_MAX = 2_000


def _iso(ms: str) -> str:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds")
    except ValueError:
        return ms


async def _row_batches(query: DlqQuery, flt: DlqFilter, fmt: ExportFormat) -> AsyncIterator[str]:
    """Encoded rows a batch at a time; the next batch is fetched while the caller formats this one."""
    pending: asyncio.Future[str] | None = None
    async for items in query.walk_ids(flt, BATCH):
        fetch = asyncio.ensure_future(query.rows([entry_id for _score, entry_id in items], fmt, REASON_MAX))
        if pending is not None:
            yield await pending
        pending = fetch
    if pending is not None:
        yield await pending


def _masked_lines(rows: str, secrets: Mapping[str, tuple[Path, ...]]) -> str:
    """JSON Lines with the secret payload fields of the job names in `secrets` masked, and their text wherever the
    rest of the line (reason, stack trace) quotes it; other lines untouched."""
    needles = [json.dumps(name) for name in secrets]
    lines = rows.split("\n")
    for index, line in enumerate(lines):
        if any(needle in line for needle in needles):
            item = json.loads(line)
            paths = secrets.get(item.get("name"))
            if paths:
                quoted = secret_values(item.get("data"), paths)
                item = {
                    key: mask(value, paths) if key == "data" else redact(value, quoted) for key, value in item.items()
                }
                lines[index] = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return "\n".join(lines)


async def export_lines(
    query: DlqQuery, flt: DlqFilter, fmt: ExportFormat, secrets: Mapping[str, tuple[Path, ...]] | None = None
) -> AsyncIterator[str]:
    """The export as text chunks: a header line first for CSV, then one line per matching entry, newest first.
    The payload fields in `secrets` (job name to secret paths) are masked."""
    secrets = {name: paths for name, paths in (secrets or {}).items() if paths}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    async for rows in _row_batches(query, flt, fmt):
        if fmt == "jsonl":
            if rows and secrets:
                rows = _masked_lines(rows, secrets)
            if rows:
                buffer.write(rows)
                buffer.write("\n")
        else:
            for cells in json.loads(rows):
                cells[4] = _iso(cells[4])
                paths = secrets.get(cells[3])
                if paths:
                    data = json.loads(cells[10])
                    quoted = secret_values(data, paths)
                    cells = [redact(cell, quoted) if isinstance(cell, str) else cell for cell in cells]
                    cells[10] = json.dumps(mask(data, paths), ensure_ascii=False)
                writer.writerow([f"'{c}" if c[:1] in FORMULA_FIRST else c for c in map(str, cells)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail
