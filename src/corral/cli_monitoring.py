"""`corral monitoring ...`: stats, health, workers and alerts in the terminal, from the same services as the API."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from corral.errors import CorralError
from corral.settings import Settings

monitoring_app = typer.Typer(help="Queue monitoring: stats, health, workers and alerts.", no_args_is_help=True)
# Output shows user text (payloads, reasons, patterns such as '^[a-z]*$') as it is: no markup is parsed in it.
out = Console(width=160, markup=False) if not sys.stdout.isatty() else Console(markup=False)
err = Console(stderr=True)

T = TypeVar("T")
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
STATUS_STYLE = {"healthy": "green", "degraded": "yellow", "critical": "red", "live": "green", "lost": "red"}


def _settings(data_dir: Path | None) -> Settings:
    try:
        return Settings() if data_dir is None else Settings(data_dir=data_dir)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        err.print(
            f"[red]error:[/red] setting {escape('.'.join(map(str, first['loc'])))}: {escape(str(first['msg']))}",
            highlight=False,
        )
        raise typer.Exit(2) from None


def _run(data_dir: Path | None, read: Callable[[Any], Awaitable[T]]) -> T:
    """Build the monitoring services against the configured server, run one read, close everything."""
    settings = _settings(data_dir)

    async def main() -> T:
        from corral.cli_services import cli_services

        async with cli_services(settings, migrate=False) as services:
            return await read(services.monitoring)

    try:
        return asyncio.run(main())
    except (CorralError, OSError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None


def _print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


@monitoring_app.command()
def stats(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Job counts of every queue in every state, and the DLQ size (fresh, not cached)."""
    from corral.jobs import JOB_STATES

    result = _run(data_dir, lambda m: m.stats.collect())
    if as_json:
        _print_json(asdict(result))
        return
    table = Table(title="Corral queue stats")
    table.add_column("queue", no_wrap=True)
    for state in JOB_STATES:
        table.add_column(state, justify="right")
    for queue in result.queues:
        name = f"{queue.name} (paused)" if queue.paused else queue.name
        table.add_row(name, *(str(queue.counts.get(state, 0)) for state in JOB_STATES))
    table.add_row(Text("total", style="bold"), *(str(result.totals.get(state, 0)) for state in JOB_STATES))
    out.print(table)
    out.print(f"dead-letter queue: {result.dlq} entr{'y' if result.dlq == 1 else 'ies'}")


@monitoring_app.command()
def health(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Health score and status of every queue, each issue with its evidence and recommendation; exits 1 if critical."""
    report = _run(data_dir, lambda m: m.health.compute())
    if as_json:
        _print_json(asdict(report))
    else:
        style = STATUS_STYLE[report.status]
        out.print(Text.assemble("overall: ", (report.status, style), f" ({report.score}/100)"))
        table = Table(title="Queues")
        for column in ("queue", "score", "status", "issues"):
            table.add_column(column)
        for queue in report.queues:
            style = STATUS_STYLE[queue.status]
            rules = ", ".join(issue.rule for issue in queue.issues) or "-"
            table.add_row(queue.queue, str(queue.score), Text(queue.status, style=style), rules)
        out.print(table)
        for issue in report.issues:
            evidence = ", ".join(f"{key}={value}" for key, value in issue.evidence.items())
            out.print(Text.assemble((issue.severity, "bold"), f" {issue.summary}\n  evidence: {evidence}"))
            out.print(f"  what to do: {issue.recommendation}", highlight=False)
    if report.status == "critical":
        raise typer.Exit(1)


@monitoring_app.command()
def workers(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Every worker process with its last heartbeat; one silent too long is shown as lost."""
    views = _run(data_dir, lambda m: m.workers.views())
    if as_json:
        _print_json(
            [
                {**asdict(v.state), "status": v.status, "seconds_since_heartbeat": v.seconds_since_heartbeat}
                for v in views
            ]
        )
        return
    table = Table(title="Corral workers")
    for column in (
        "host",
        "pid",
        "status",
        "queues",
        "concurrency",
        "active",
        "processed",
        "failed",
        "up",
        "last beat",
    ):
        table.add_column(column)
    now = time.time() * 1000
    for view in views:
        state, style = view.state, STATUS_STYLE[view.status]
        table.add_row(
            state.host,
            str(state.pid),
            Text(view.status, style=style),
            ",".join(state.queues),
            str(state.concurrency),
            str(state.active_jobs),
            str(state.processed),
            str(state.failed),
            f"{(now - state.started_at) / 1000:.0f}s",
            f"{view.seconds_since_heartbeat:.1f}s ago",
        )
    out.print(table)
    if not views:
        out.print("no worker has sent a heartbeat")


@monitoring_app.command()
def alerts(
    data_dir: DataDir = None,
    as_json: AsJson = False,
    history: Annotated[int, typer.Option(help="Also show this many past transitions")] = 0,
) -> None:
    """Alerts firing now (and, with --history N, the latest transitions)."""

    async def read(monitoring: Any) -> tuple[Any, Any]:
        return await monitoring.alerts.firing(), (await monitoring.alerts.history(history))[0] if history else []

    firing, past = _run(data_dir, read)
    if as_json:
        _print_json({"firing": [asdict(a) for a in firing.values()], "history": [asdict(t) for t in past]})
        return
    if not firing:
        out.print("no alert is firing")
    for alert in sorted(firing.values(), key=lambda a: a.fired_at):
        out.print(Text.assemble((alert.severity, "bold"), f" #{alert.id} {alert.summary}"))
        out.print(f"  what to do: {alert.recommendation}", highlight=False)
    for transition in past:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(transition.at / 1000))
        out.print(f"{at} {transition.event:<8} #{transition.alert.id} {transition.alert.summary}", highlight=False)


@monitoring_app.command()
def retention(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """DLQ entries, failed jobs and audit rows that retention trims within CORRAL_RETENTION_WARNING_HOURS."""
    warnings = _run(data_dir, lambda m: m.retention.issues())
    if as_json:
        _print_json([asdict(issue) for issue in warnings])
        return
    if not warnings:
        out.print("nothing will be trimmed by retention within the warning horizon")
    for issue in warnings:
        evidence = issue.evidence
        out.print(Text.assemble(("warning", "bold"), f" {issue.rule} ({issue.queue}): {issue.summary}"))
        out.print(
            f"  affected {evidence['affected']} of {evidence['stored']} (by age {evidence['by_age']}, "
            f"by count {evidence['by_count']}), oldest at {_when(evidence['oldest_at'])}",
            highlight=False,
        )
        out.print(f"  what to do: {issue.recommendation}", highlight=False)


def _when(epoch_ms: Any) -> str:
    if not isinstance(epoch_ms, int):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))
