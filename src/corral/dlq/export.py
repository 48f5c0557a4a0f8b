"""Streamed DLQ exports: CSV (formula-neutralised cells) and JSON Lines, batch by batch; memory stays flat."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Literal

from corral.csvsafe import neutralise
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
)
BATCH = 2_000
REASON_MAX = 2_000


def _iso(ms: str) -> str:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="milliseconds")
    except ValueError:
        return ms


async def export_lines(query: DlqQuery, flt: DlqFilter, fmt: ExportFormat) -> AsyncIterator[str]:
    """The export as text chunks: a header line first for CSV, then one line per matching entry, newest first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    async for items in query.walk_ids(flt, BATCH):
        rows = await query.rows([entry_id for _score, entry_id in items], fmt, REASON_MAX)
        if fmt == "jsonl":
            buffer.write("\n".join(rows))
            buffer.write("\n")
        else:
            for row in rows:
                cells = json.loads(row)
                cells[4] = _iso(cells[4])
                writer.writerow([neutralise(cell) for cell in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    tail = buffer.getvalue()
    if tail:
        yield tail
