"""`corral schedules ...`: list, add, edit, pause, resume, remove and run repeatable and cron jobs."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corral.cli_services import actor, cli_services
from corral.errors import CorralError, InvalidRequestError
from corral.schedules import Schedule, ScheduleDraft
from corral.services import Services

schedules_app = typer.Typer(help="Repeatable and cron jobs: list, add, edit, pause, resume, remove, run now.")
schedules_app.info.no_args_is_help = True
# Output shows user text (payloads, patterns) as it is: no markup is parsed in it.
out = Console(width=160, markup=False) if not sys.stdout.isatty() else Console(markup=False)
err = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")
EXIT_USAGE = 2
DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or ./.corral)")
]
QueueArg = Annotated[str, typer.Argument(help="The schedule's queue")]
IdArg = Annotated[str, typer.Argument(help="The schedule's id")]
Every = Annotated[str | None, typer.Option("--every", help="Run every DURATION: 30s, 5m, 2h, 1d or 1500ms")]
Cron = Annotated[str | None, typer.Option("--cron", help="Cron pattern, e.g. '0 3 * * *' (6 fields: seconds first)")]
Tz = Annotated[str | None, typer.Option("--tz", help="Time zone of the cron pattern (default UTC), e.g. Europe/Paris")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _run(data_dir: Path | None, action: Callable[[Services], Coroutine[Any, Any, T]]) -> T:
    from corral.cli import _settings

    settings = _settings(data_dir=data_dir)

    async def main() -> T:
        async with cli_services(settings) as services:
            return await action(services)

    try:
        return asyncio.run(main())
    except InvalidRequestError as exc:
        for error in exc.errors or []:
            err.print(f"[red]error:[/red] {escape(error.field)}: {escape(error.reason)}", highlight=False)
        if not exc.errors:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    except CorralError as exc:
        raise _fail(str(exc)) from None


def _every_ms(every: str | None) -> int | None:
    if every is None:
        return None
    found = DURATION.match(every)
    if found is None:
        raise _fail(f"--every: {every!r} is not a duration such as 30s, 5m, 2h, 1d or 1500ms", EXIT_USAGE)
    return int(found.group(1)) * UNIT_MS[found.group(2)]


def _payload(data: str) -> Any:
    from corral.cli import _read_data

    return _read_data(data)


def _when(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "-"


def _rule(schedule: Schedule) -> str:
    if schedule.every_ms:
        return f"every {schedule.every_ms} ms"
    return f"cron {schedule.cron}" + (f" ({schedule.tz})" if schedule.tz else "")


def _show(schedule: Schedule, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(asdict(schedule), default=str))
        return
    out.print(
        f"{schedule.queue}/{schedule.id}: {schedule.name}, {_rule(schedule)}, {schedule.status}, "
        f"next run {_when(schedule.next_run)}",
        highlight=False,
    )


@schedules_app.command("list")
def list_schedules(
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Only this queue's schedules")] = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Every schedule with its rule, status and next run (Node BullMQ's schedulers on these queues too)."""
    found = _run(data_dir, lambda s: s.schedules.overview(queue))
    if as_json:
        out.print_json(json.dumps([asdict(schedule) for schedule in found], default=str))
        return
    table = Table(title=f"Corral schedules ({len(found)})")
    for column in ("queue", "id", "job", "rule", "status", "next run", "payload"):
        table.add_column(column, no_wrap=column in ("queue", "id", "next run"))
    for schedule in found:
        payload = json.dumps(schedule.payload, separators=(",", ":"))
        table.add_row(
            schedule.queue,
            schedule.id,
            schedule.name,
            _rule(schedule),
            schedule.status,
            _when(schedule.next_run),
            payload if len(payload) <= 60 else payload[:59] + "…",
        )
    out.print(table)


@schedules_app.command("add")
def add_schedule(
    schedule_id: Annotated[str, typer.Argument(metavar="ID", help="The schedule's id (letters, digits, . _ -)")],
    job: Annotated[str, typer.Option("--job", "-j", help="Job type each run enqueues, e.g. system.cleanup")],
    data: Annotated[str, typer.Option("--data", "-d", help="Payload as JSON, or @path to a JSON file")],
    every: Every = None,
    cron: Cron = None,
    tz: Tz = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Create a schedule on its job type's queue (the same command again changes nothing)."""
    draft = ScheduleDraft(schedule_id, job, _payload(data), _every_ms(every), cron, tz)

    async def add(s: Services) -> tuple[Schedule, bool]:
        params = {"id": schedule_id, "name": job, "every_ms": draft.every_ms, "cron": cron, "tz": tz}
        async with s.events.action(actor(), "schedules.create", f"schedule:{schedule_id}", params) as note:
            schedule, created = await s.schedules.create(draft)
            note.resource, note.affected = f"schedule:{schedule.queue}/{schedule.id}", int(created)
            return schedule, created

    schedule, created = _run(data_dir, add)
    if not as_json:
        out.print("created" if created else "unchanged (the same schedule exists)", highlight=False)
    _show(schedule, as_json)


@schedules_app.command("edit")
def edit_schedule(
    queue: QueueArg,
    schedule_id: IdArg,
    data: Annotated[str | None, typer.Option("--data", "-d", help="New payload as JSON, or @path")] = None,
    every: Every = None,
    cron: Cron = None,
    tz: Tz = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Change a schedule's payload and/or rule (--every replaces a cron pattern, --cron an interval)."""
    changes: dict[str, Any] = {}
    if data is not None:
        changes["payload"] = _payload(data)
    if every is not None:
        changes["every_ms"] = _every_ms(every)
    if cron is not None:
        changes["cron"] = cron
    if tz is not None:
        changes["tz"] = tz
    if not changes:
        raise _fail("nothing to change: give --data, --every, --cron or --tz", EXIT_USAGE)

    async def edit(s: Services) -> tuple[Schedule, list[str]]:
        params = {key: value for key, value in changes.items() if key != "payload"}
        async with s.events.action(actor(), "schedules.edit", f"schedule:{queue}/{schedule_id}", params) as note:
            schedule, changed = await s.schedules.edit(queue, schedule_id, changes)
            note.params["changed"], note.affected = changed, int(bool(changed))
            return schedule, changed

    schedule, changed = _run(data_dir, edit)
    if not as_json:
        out.print(f"changed: {', '.join(changed)}" if changed else "unchanged", highlight=False)
    _show(schedule, as_json)


def _toggle(action: str, queue: str, schedule_id: str, data_dir: Path | None, as_json: bool) -> None:
    async def run(s: Services) -> tuple[Schedule, bool]:
        async with s.events.action(actor(), f"schedules.{action}", f"schedule:{queue}/{schedule_id}") as note:
            change = s.schedules.pause if action == "pause" else s.schedules.resume
            schedule, changed = await change(queue, schedule_id)
            note.params = {"name": schedule.name, "every_ms": schedule.every_ms, "cron": schedule.cron}
            note.affected = int(changed)
            return schedule, changed

    schedule, changed = _run(data_dir, run)
    if not as_json:
        done = "paused" if action == "pause" else "resumed"
        out.print(done if changed else f"unchanged (already {schedule.status})", highlight=False)
    _show(schedule, as_json)


@schedules_app.command("pause")
def pause_schedule(queue: QueueArg, schedule_id: IdArg, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Stop a schedule making jobs; Corral keeps it (bullmq's scheduler and its next run are removed)."""
    _toggle("pause", queue, schedule_id, data_dir, as_json)


@schedules_app.command("resume")
def resume_schedule(queue: QueueArg, schedule_id: IdArg, data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Make a paused schedule's bullmq scheduler again; its next run follows from its rule."""
    _toggle("resume", queue, schedule_id, data_dir, as_json)


@schedules_app.command("remove")
def remove_schedule(queue: QueueArg, schedule_id: IdArg, data_dir: DataDir = None) -> None:
    """Delete a schedule, active or paused, with its pending next run."""

    async def remove(s: Services) -> None:
        async with s.events.action(actor(), "schedules.remove", f"schedule:{queue}/{schedule_id}") as note:
            await s.schedules.remove(queue, schedule_id)
            note.affected = 1

    _run(data_dir, remove)
    out.print(f"removed {queue}/{schedule_id}", highlight=False)


@schedules_app.command("run")
def run_schedule(queue: QueueArg, schedule_id: IdArg, data_dir: DataDir = None) -> None:
    """Enqueue one job now from the schedule's job type and payload; prints the job id."""

    async def run(s: Services) -> str:
        async with s.events.action(actor(), "schedules.run", f"schedule:{queue}/{schedule_id}") as note:
            job_id = await s.schedules.run_now(queue, schedule_id)
            note.params, note.affected = {"job_id": job_id}, 1
            return job_id

    out.print(_run(data_dir, run), highlight=False)
