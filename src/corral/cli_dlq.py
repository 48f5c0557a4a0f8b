"""`corral dlq ...`: list, search, inspect, replay, delete, bulk actions, clear, analytics, trends and export."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from corral.cli_services import actor, cli_services
from corral.dlq.brake import WATCH_BATCH, BrakeLimits
from corral.dlq.bulk import TaskKind, TaskState
from corral.dlq.query import Cursor, DlqFilter
from corral.dlq.ramp import SlowStart
from corral.dlq.replay import ReplayResult
from corral.dlq.service import DlqService
from corral.errors import CorralError, PayloadValidationError
from corral.releases import Release
from corral.services import Services
from corral.settings import Settings

dlq_app = typer.Typer(help="Search, inspect, replay and clear the dead-letter queue.", no_args_is_help=True)
# Output shows user text (payloads, reasons, patterns such as '^[a-z]*$') as it is: no markup is parsed in it.
out = Console(width=160, markup=False) if not sys.stdout.isatty() else Console(markup=False)
err = Console(stderr=True)

T = TypeVar("T")
CLEAR_PHRASE = "clear dlq"
DELETE_PHRASE = "delete dlq"
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or ./.corral)")
]
Queue = Annotated[str | None, typer.Option("--queue", "-q", help="Only entries of this queue")]
Name = Annotated[str | None, typer.Option("--name", help="Only entries of this job name")]
Fingerprint = Annotated[str | None, typer.Option("--fingerprint", help="Only entries with this error fingerprint")]
Status = Annotated[str | None, typer.Option("--status", help="never, pending, succeeded, died or limit")]
Replays = Annotated[int | None, typer.Option("--replays", help="Only entries replayed exactly this many times")]
Error = Annotated[str | None, typer.Option("--error", help="Words of the failure reason")]
Fields = Annotated[list[str] | None, typer.Option("--field", help="Payload field:value; repeatable")]
Search = Annotated[str | None, typer.Option("--search", "-s", help="Free text: job id, payload value or words")]
SinceHours = Annotated[float | None, typer.Option("--since-hours", help="Failed within this many hours")]
ReleaseOption = Annotated[str | None, typer.Option("--release", help="Only entries captured under this release")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]
Yes = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")]


def _run(data_dir: Path | None, action: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    from corral.cli import _settings

    settings = _settings(data_dir=data_dir)
    try:
        return asyncio.run(_with_service(settings, action))
    except PayloadValidationError as exc:
        for error in exc.errors:
            err.print(f"[red]invalid payload:[/red] {escape(error.field)}: {escape(error.reason)}", highlight=False)
        raise typer.Exit(2) from None
    except CorralError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        for error in getattr(exc, "errors", []):
            err.print(f"  {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None


async def _with_service(settings: Settings, action: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    async with cli_services(settings) as services:
        return await action(services)


def _filter(
    queue: str | None = None,
    name: str | None = None,
    fingerprint: str | None = None,
    status: str | None = None,
    replays: int | None = None,
    error: str | None = None,
    fields: list[str] | None = None,
    search: str | None = None,
    since_hours: float | None = None,
    release: str | None = None,
) -> DlqFilter:
    pairs = []
    for item in fields or []:
        field_name, sep, value = item.partition(":")
        if not sep or not value:
            err.print(f"[red]error:[/red] --field {escape(repr(item))}: expected field:value", highlight=False)
            raise typer.Exit(2)
        pairs.append((field_name, value))
    since = int(time.time() * 1000 - since_hours * 3_600_000) if since_hours is not None else None
    return DlqFilter(
        queue, name, fingerprint, since, None, replays, status, None, error, tuple(pairs), search, release or None
    )


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


@dlq_app.command("list")
def list_entries(
    queue: Queue = None,
    name: Name = None,
    fingerprint: Fingerprint = None,
    status: Status = None,
    replays: Replays = None,
    error: Error = None,
    field: Fields = None,
    search: Search = None,
    since_hours: SinceHours = None,
    release: ReleaseOption = None,
    limit: Annotated[int, typer.Option(help="Entries per page (1..1000)")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue after this cursor")] = None,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """List entries newest first, filtered and searched from the DLQ's indexes; prints the next cursor."""
    flt = _filter(queue, name, fingerprint, status, replays, error, field, search, since_hours, release)
    page = _run(data_dir, lambda s: s.dlq.query.page(flt, Cursor.parse(cursor) if cursor else None, limit))
    if as_json:
        out.print_json(data={**asdict(page), "items": [asdict(item) for item in page.items]})
        return
    table = Table(title=f"DLQ entries{'' if page.total is None else f' ({page.total} matching)'}")
    for column in ("id", "failed at (UTC)", "queue", "name", "job id", "replays", "status", "release", "reason"):
        table.add_column(column, no_wrap=column != "reason")
    for item in page.items:
        table.add_row(
            item.id,
            _when(item.failed_at),
            item.queue,
            item.name,
            item.job_id,
            str(item.replay_count),
            item.status,
            item.release or "-",
            item.failed_reason[:80],
        )
    out.print(table)
    if page.next_cursor:
        out.print(f"next page: --cursor {page.next_cursor}", highlight=False)


@dlq_app.command("show")
def show(
    entry_id: str,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="Show the secret fields' real values (logged as a data access)")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Everything stored of one entry, with its replay history and the trace id of its job's enqueuer, as JSON;
    secret payload fields masked."""
    from corral.engine import trace_of
    from corral.tracing import trace_id

    async def run(s: Services) -> dict[str, Any]:
        from corral.contracts.secrets import dotted, mask, redact, secret_values

        entry = await s.dlq.entry(entry_id)
        paths = s.registry.secret_paths(entry.name)
        shown = {**asdict(entry), "trace_id": trace_id(trace_of(entry.opts)[0])}
        if reveal:
            details = {"job": entry.name, "job_id": entry.job_id, "fields": dotted(paths)}
            await s.audit.record_access(actor(), "dlq_entry_secrets", [entry_id], details)
        elif paths:
            quoted = secret_values(entry.data, paths)
            # The payload, and the texts that may quote it: the reason, its pattern, the stack traces, a later death.
            shown["data"] = mask(entry.data, paths)
            shown["failed_reason"] = redact(entry.failed_reason, quoted)
            shown["reason_pattern"] = redact(entry.reason_pattern, quoted)
            shown["stacktrace"] = redact(entry.stacktrace, quoted)
            shown["died_again"] = redact(entry.died_again, quoted)
        return shown

    out.print_json(data=_run(data_dir, run))


@dlq_app.command("replay")
def replay(
    entry_id: str,
    payload: Annotated[str | None, typer.Option(help="Edited payload as JSON, or @path to a JSON file")] = None,
    data_dir: DataDir = None,
) -> None:
    """Replay one entry to its original queue (at most 5 times), optionally with an edited payload."""
    edited = None
    if payload is not None:
        from corral.cli import _read_data

        edited = _read_data(payload)

    async def run(s: Services) -> ReplayResult:
        who = actor()
        async with s.events.action(who, "dlq.replay", f"dlq:{entry_id}", {"edited": edited is not None}) as note:
            result = await s.dlq.replay(entry_id, who, edited)
            note.params.update(job_id=result.job_id, replay=result.number, diff=result.diff)
            note.affected = 1
        return result

    result = _run(data_dir, run)
    out.print(f"replay {result.number} of entry {entry_id}: job {result.job_id} on {result.queue}", highlight=False)
    for field_name, change in result.diff.items():
        out.print(f"  {field_name}: {change['from']!r} -> {change['to']!r}", highlight=False)


@dlq_app.command("delete")
def delete(entry_ids: Annotated[list[str], typer.Argument(help="Entry ids")], data_dir: DataDir = None) -> None:
    """Delete entries by id."""

    async def run(s: Services) -> list[str]:
        async with s.events.action(actor(), "dlq.delete", "dlq", {"ids": entry_ids[:100]}) as note:
            gone = await s.dlq.delete(entry_ids)
            note.affected = len(gone)
        return gone

    deleted = _run(data_dir, run)
    missing = sorted(set(entry_ids) - set(deleted))
    out.print(f"deleted {len(deleted)} entr{'y' if len(deleted) == 1 else 'ies'}", highlight=False)
    if missing:
        err.print(f"[red]error:[/red] no such entries: {escape(', '.join(missing))}", highlight=False)
        raise typer.Exit(1)


def _bulk(
    action: str,
    kind: TaskKind,
    flt: DlqFilter,
    rate: int | None,
    yes: bool,
    phrase: str | None,
    data_dir: Path | None,
    announce: str | None = None,
    brake: tuple[int | None, int | None] = (None, None),
    slow_start: int | None = None,
    max_in_flight: int = 0,
) -> None:
    async def run(s: Services) -> TaskState | None:
        dlq = s.dlq
        preview = await dlq.tasks.preview(flt)
        out.print(
            f"{preview.count} entr{'y' if preview.count == 1 else 'ies'} of queue(s) "
            f"{', '.join(preview.queues) or '-'} would be {'replayed' if kind == 'replay' else 'deleted'}",
            highlight=False,
        )
        if not preview.count:
            return None
        if phrase is not None:
            typed = phrase if yes else typer.prompt(f"Type {phrase!r} to confirm")
            if typed != phrase:
                err.print("[red]error:[/red] the typed phrase does not match; nothing was done")
                raise typer.Exit(1)
        elif not yes and not typer.confirm("Go ahead?"):
            raise typer.Exit(1)
        who = actor()
        threshold, window = brake
        limits = BrakeLimits(
            dlq.tasks.brake.threshold if threshold is None else threshold, window or dlq.tasks.brake.window_seconds
        )
        slow = SlowStart(dlq.tasks.slow_start.percent if slow_start is None else slow_start)
        plan = {**limits.as_params(), "slow_start": slow.percent, "max_in_flight": max_in_flight}
        params = {**flt.as_params(), **(plan if kind == "replay" else {})}
        async with s.events.action(who, action, "dlq", params) as note:
            state = await dlq.tasks.start(
                kind, flt, who, rate, announce, brake=limits, slow_start=slow, max_in_flight=max_in_flight
            )
            note.params["task"] = state.id
            final = await _follow(dlq, state)
            note.params["status"] = final.status
            note.affected = final.succeeded
        return final

    final = _run(data_dir, run)
    if final is not None:
        _report(final)


def _report(final: TaskState) -> None:
    """Print how a task ended (and why a paused one paused); exit 1 unless it completed."""
    out.print(
        f"task {final.id} {final.status}: {final.succeeded} done, {final.skipped} skipped, {final.failed} failed",
        highlight=False,
    )
    for line in final.errors:
        err.print(f"  {escape(line)}", highlight=False)
    if final.status == "paused":
        err.print(f"paused: {escape(final.paused_reason or '')}", highlight=False)
        for item in final.paused_fingerprints:
            err.print(f"  {item['fingerprint']}  x{item['count']}  {escape(str(item['reason']))}", highlight=False)
        err.print(f"resume with `corral dlq resume {final.id}` or cancel with `corral dlq cancel {final.id}`")
    if final.status != "completed":
        raise typer.Exit(1)


async def _follow(dlq: DlqService, state: TaskState) -> TaskState:
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task(f"{state.kind} task {state.id}", total=state.total or None)
        waiter = asyncio.ensure_future(dlq.tasks.wait(state.id))
        try:
            while not waiter.done():
                current = await dlq.tasks.get(state.id)
                progress.update(bar, completed=current.done)
                await asyncio.wait({waiter}, timeout=0.25)
        except (KeyboardInterrupt, asyncio.CancelledError):
            await dlq.tasks.cancel(state.id)
            return await dlq.tasks.wait(state.id)
        return await waiter


@dlq_app.command("replay-all")
def replay_all(
    queue: Queue = None,
    name: Name = None,
    fingerprint: Fingerprint = None,
    status: Status = None,
    replays: Replays = None,
    error: Error = None,
    field: Fields = None,
    search: Search = None,
    since_hours: SinceHours = None,
    release: ReleaseOption = None,
    rate: Annotated[int | None, typer.Option(help="Jobs per second (default CORRAL_DLQ_BULK_RATE)")] = None,
    brake_threshold: Annotated[
        int | None,
        typer.Option(min=0, help="Pause when more replayed jobs die again (0: off; default from settings)"),
    ] = None,
    brake_window: Annotated[
        int | None, typer.Option(min=1, max=86_400, help="Seconds in which jobs that died again are counted")
    ] = None,
    slow_start: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100,
            help="Start at this percent of the rate, doubling it each brake window without a death "
            "(100: full rate at once; default CORRAL_DLQ_REPLAY_SLOW_START_PERCENT)",
        ),
    ] = None,
    max_in_flight: Annotated[
        int,
        typer.Option(
            min=0, max=WATCH_BATCH, help="Wait while this many replayed jobs have no outcome yet (0: no limit)"
        ),
    ] = 0,
    yes: Yes = False,
    data_dir: DataDir = None,
) -> None:
    """Replay every entry of a filter after a preview, throttled, with a progress bar; Ctrl-C cancels. The task
    pauses itself when too many of its replayed jobs die again, and may start slowly."""
    flt = _filter(queue, name, fingerprint, status, replays, error, field, search, since_hours, release)
    _bulk(
        "dlq.bulk_replay",
        "replay",
        flt,
        rate,
        yes,
        None,
        data_dir,
        brake=(brake_threshold, brake_window),
        slow_start=slow_start,
        max_in_flight=max_in_flight,
    )


@dlq_app.command("delete-all")
def delete_all(
    queue: Queue = None,
    name: Name = None,
    fingerprint: Fingerprint = None,
    status: Status = None,
    replays: Replays = None,
    error: Error = None,
    field: Fields = None,
    search: Search = None,
    since_hours: SinceHours = None,
    release: ReleaseOption = None,
    phrase: Annotated[str | None, typer.Option(help=f"Type {DELETE_PHRASE!r} here instead of at the prompt")] = None,
    data_dir: DataDir = None,
) -> None:
    """Delete every entry of a filter after a preview; asks to type 'delete dlq' (like the API's bulk delete)."""
    flt = _filter(queue, name, fingerprint, status, replays, error, field, search, since_hours, release)
    if phrase is not None and phrase != DELETE_PHRASE:
        err.print(f"[red]error:[/red] --phrase must be {DELETE_PHRASE!r}; nothing was done")
        raise typer.Exit(1)
    _bulk("dlq.bulk_delete", "delete", flt, None, phrase is not None, DELETE_PHRASE, data_dir)


@dlq_app.command("clear")
def clear(
    queue: Queue = None,
    replays: Replays = None,
    older_than_hours: Annotated[int | None, typer.Option(help="Only entries older than this")] = None,
    phrase: Annotated[str | None, typer.Option(help=f"Type {CLEAR_PHRASE!r} here instead of at the prompt")] = None,
    data_dir: DataDir = None,
) -> None:
    """Clear all entries, or those of a queue, replay count or age; asks to type 'clear dlq' after the preview."""
    until = int(time.time() * 1000) - older_than_hours * 3_600_000 if older_than_hours else None
    flt = DlqFilter(queue=queue, replays=replays, until_ms=until)
    if phrase is not None and phrase != CLEAR_PHRASE:
        err.print(f"[red]error:[/red] --phrase must be {CLEAR_PHRASE!r}; nothing was done")
        raise typer.Exit(1)
    _bulk("dlq.clear", "delete", flt, None, phrase is not None, CLEAR_PHRASE, data_dir, announce="dlq.cleared")


@dlq_app.command("stats")
def stats(
    top: Annotated[int, typer.Option(help="How many error fingerprints to show")] = 10,
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Totals, counts by queue, job name and replay status, the top error fingerprints and the success rate."""
    found = _run(data_dir, lambda s: s.dlq.analytics.summary(top))
    if as_json:
        out.print_json(data=asdict(found))
        return
    out.print(f"{found.total} entries, {found.fingerprints} distinct errors", highlight=False)
    out.print("by queue: " + ", ".join(f"{k} {v}" for k, v in sorted(found.by_queue.items())), highlight=False)
    out.print("by status: " + ", ".join(f"{k} {v}" for k, v in found.by_status.items()), highlight=False)
    if found.replay_success_rate is not None:
        out.print(f"replay success rate: {found.replay_success_rate:.1%}", highlight=False)
    table = Table(title="Top errors")
    for column in ("count", "fingerprint", "queue", "first seen", "last seen", "releases", "sample reason"):
        table.add_column(column, no_wrap=column != "sample reason")
    for stat in found.top_fingerprints:
        table.add_row(
            str(stat.count),
            stat.fingerprint,
            stat.queue,
            _when(stat.first_seen),
            _when(stat.last_seen),
            _releases(stat.first_release, stat.last_release, stat.new_in),
            stat.sample_reason[:80],
        )
    out.print(table)
    if found.by_release:
        out.print("by release: " + ", ".join(f"{k} {v}" for k, v in found.by_release.items()), highlight=False)


def _releases(first: str | None, last: str | None, new_in: str | None) -> str:
    """A fingerprint's releases as the stats table shows them: `v1 -> v3`, and `new in v3` when it began there."""
    if first is None:
        return "-"
    span = first if last in (None, first) else f"{first} -> {last}"
    return f"{span} (new in {new_in})" if new_in else span


@dlq_app.command("trends")
def trends(
    window: Annotated[str, typer.Option(help="24h, 7d or 30d")] = "24h",
    as_json: AsJson = False,
    data_dir: DataDir = None,
) -> None:
    """Entries per hour over a window, the peak hour and the average."""
    found = _run(data_dir, lambda s: s.dlq.analytics.trend(window))
    if as_json:
        out.print_json(data=asdict(found))
        return
    peak = f"{_when(found.peak.hour)} ({found.peak.count})" if found.peak else "-"
    out.print(f"{found.total} entries, {found.average_per_hour:.1f}/hour, peak {peak}", highlight=False)
    for bucket in found.buckets:
        if bucket.count:
            out.print(f"{_when(bucket.hour)}  {bucket.count}", highlight=False)
    for marker in found.releases:
        out.print(f"release {marker.name} at {_when(marker.at)}", highlight=False)


@dlq_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write")],
    export_format: Annotated[str, typer.Option("--format", help="csv or jsonl")] = "csv",
    queue: Queue = None,
    name: Name = None,
    fingerprint: Fingerprint = None,
    status: Status = None,
    error: Error = None,
    field: Fields = None,
    search: Search = None,
    since_hours: SinceHours = None,
    release: ReleaseOption = None,
    data_dir: DataDir = None,
) -> None:
    """Write the matching entries with their payloads as CSV (cells neutralised) or JSON Lines, streamed."""
    if export_format not in ("csv", "jsonl"):
        err.print("[red]error:[/red] --format: csv or jsonl")
        raise typer.Exit(2)
    flt = _filter(queue, name, fingerprint, status, None, error, field, search, since_hours, release)

    async def write(s: Services) -> int:
        from corral.dlq.export import export_lines

        dlq = s.dlq
        dlq.query.validate(flt)
        written = 0
        with output.open("w", encoding="utf-8", newline="") as handle:
            secrets = {job: s.registry.secret_paths(job) for job in s.registry.jobs}
            async for chunk in export_lines(dlq.query, flt, "csv" if export_format == "csv" else "jsonl", secrets):
                handle.write(chunk)
                written += chunk.count("\n")
        return written - (1 if export_format == "csv" else 0)

    rows = _run(data_dir, write)
    out.print(f"wrote {rows} entr{'y' if rows == 1 else 'ies'} to {output}", highlight=False)


@dlq_app.command("tasks")
def tasks(as_json: AsJson = False, data_dir: DataDir = None) -> None:
    """Bulk tasks, newest first, with their progress."""
    found = _run(data_dir, lambda s: s.dlq.tasks.recent(20))
    if as_json:
        out.print_json(data=[asdict(state) for state in found])
        return
    table = Table(title="DLQ bulk tasks")
    columns = ("id", "kind", "status", "done", "total", "succeeded", "skipped", "failed", "rate", "by", "started")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for s in found:
        kind = f"{s.kind} ({s.source})" if s.kind == "replay" else s.kind
        rate = f"{s.current_rate}/{s.rate}" if s.kind == "replay" and s.current_rate < s.rate else str(s.rate)
        table.add_row(
            s.id, kind, s.status, str(s.done), str(s.total), str(s.succeeded), str(s.skipped), str(s.failed),
            rate, s.actor, _when(s.created_at),
        )  # fmt: skip
    out.print(table)


@dlq_app.command("cancel")
def cancel(task_id: str, data_dir: DataDir = None) -> None:
    """Stop a bulk task after its current batch."""

    async def run(s: Services) -> TaskState:
        async with s.events.action(actor(), "dlq.task_cancel", f"dlq-task:{task_id}") as note:
            found = await s.dlq.tasks.cancel(task_id)
            note.affected = 1
        return found

    state = _run(data_dir, run)
    out.print(f"task {state.id}: {state.status}", highlight=False)


@dlq_app.command("resume")
def resume(task_id: str, data_dir: DataDir = None) -> None:
    """Go on with a bulk replay its brake paused, from where it stopped, with a progress bar; Ctrl-C cancels."""

    async def run(s: Services) -> TaskState:
        async with s.events.action(actor(), "dlq.task_resume", f"dlq-task:{task_id}") as note:
            state = await s.dlq.tasks.resume(task_id, actor())
            note.params["done"], note.affected = state.done, 1
        return await _follow(s.dlq, state)

    _report(_run(data_dir, run))


releases_app = typer.Typer(help="Releases on the failure timeline: list them, mark a deploy.", no_args_is_help=True)


@releases_app.command("mark")
def mark_release(
    name: Annotated[str, typer.Argument(help="The release deployed now: a version or commit (v2.4.1, 3f2a9c1)")],
    data_dir: DataDir = None,
) -> None:
    """Mark a release as deployed now: failures of workers not told their release (CORRAL_RELEASE) carry it from
    now on. Marking a known release again makes it current (a rollback); its first time stays."""

    async def mark(s: Services) -> tuple[Release, bool]:
        async with s.events.action(actor(), "releases.mark", f"release:{name}", {"name": name}) as note:
            release, created = await s.releases.mark(name, actor(), "cli")
            note.params["created"], note.affected = created, int(created)
            return release, created

    release, created = _run(data_dir, mark)
    if created:
        out.print(f"marked {release.name}", highlight=False)
    else:
        out.print(f"marked {release.name} current again (first seen {_when(release.first_seen)})", highlight=False)


@releases_app.command("list")
def list_releases(as_json: AsJson = False, data_dir: DataDir = None) -> None:
    """Every release the workers ran or a deploy marked, the first seen first; `*` marks the current one."""

    async def read(s: Services) -> tuple[list[Release], str | None]:
        return await s.releases.all(), await s.releases.current()

    found, current = _run(data_dir, read)
    if as_json:
        out.print_json(data={"items": [asdict(release) for release in found], "current": current})
        return
    table = Table(title="Releases")
    for column in ("", "release", "first seen (UTC)", "marked by", "source"):
        table.add_column(column, no_wrap=True)
    for release in found:
        table.add_row(
            "*" if release.name == current else "",
            release.name,
            _when(release.first_seen),
            release.marked_by,
            release.source,
        )
    out.print(table)
