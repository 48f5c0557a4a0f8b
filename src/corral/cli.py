"""The `corral` command: thin wrappers that parse arguments, call a service and print the outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from corral.app import Corral
    from corral.producer import Producer

from corral.errors import ContractError, CorralError, EnqueueError, PayloadValidationError
from corral.keys import Keys
from corral.server import redact_url
from corral.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Output shows user text (payloads, reasons, patterns such as '^[a-z]*$') as it is: no markup is parsed in it.
out = Console(width=160, markup=False) if not sys.stdout.isatty() else Console(markup=False)
err = Console(stderr=True, soft_wrap=True)  # one error, one line: never wrapped at 80 columns

EXIT_USAGE = 2
EXIT_FAILURE = 1


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            err.print(f"[red]error:[/red] setting {escape(field)}: {escape(str(error['msg']))}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None


def _application(settings: Settings) -> Corral:
    """The application the command serves (`--app`, CORRAL_APP, or the reference catalogue)."""
    from corral.app import load_app

    try:
        return load_app(settings.app)
    except CorralError as exc:
        raise _fail(f"--app: {exc}", EXIT_USAGE) from None


@app.callback()
def _options(
    app_spec: Annotated[
        str | None,
        typer.Option(
            "--app", metavar="MODULE:ATTR", help="Your application (default: CORRAL_APP, else the reference catalogue)"
        ),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor", metavar="NAME", help="Who acts, in the audit log (default: CORRAL_ACTOR, else cli:<os user>)"
        ),
    ] = None,
) -> None:
    """Corral: typed job queues on the BullMQ engine, with a dead-letter queue and an owner console."""
    if app_spec:
        # Every settings object this command builds, and every process it starts, serves this application.
        os.environ["CORRAL_APP"] = app_spec
    if actor:
        from corral.cli_services import ACTOR_ENV

        os.environ[ACTOR_ENV] = actor


def _configure_logging(verbose: bool) -> None:
    from corral import logredact

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        logredact.install(handler)


def _fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or ./.corral)")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details")]


def _show_first_owner(email: str, password: str) -> None:
    out.print(
        f"\n[bold]First owner account created[/bold]: {escape(email)}\n"
        f"One-time password, shown only now: [bold]{escape(password)}[/bold]\n"
        f"Change it with: corral users set-password --email {escape(email)}\n",
        highlight=False,
        markup=True,
    )


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="API bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8000)")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes to start (default 1; 0: none)")] = None,
    api_processes: Annotated[int | None, typer.Option(help="API processes sharing the port (default 1)")] = None,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Run Corral: an embedded Valkey unless CORRAL_REDIS_URL is set, workers for every queue, and the API."""
    settings = _settings(host=host, port=port, worker_processes=workers, api_processes=api_processes, data_dir=data_dir)
    _configure_logging(verbose)
    from corral.supervisor import run_up

    try:
        run_up(settings, _show_first_owner)
    except CorralError as exc:
        raise _fail(str(exc)) from None


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="API bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default 8000)")] = None,
    reuse_port: Annotated[
        bool, typer.Option("--reuse-port", help="Share the port with other `corral api` processes (SO_REUSEPORT)")
    ] = False,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Migrate the SQL store first")] = True,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Run the API, console and realtime gateway alone, on CORRAL_REDIS_URL (or a running `corral up`'s server)."""
    settings = _settings(host=host, port=port, data_dir=data_dir)
    _configure_logging(verbose)
    from corral.connection import resolve_redis_url
    from corral.supervisor import run_api

    try:
        run_api(settings, resolve_redis_url(settings), _show_first_owner, reuse_port=reuse_port, migrate=migrate)
    except CorralError as exc:
        raise _fail(str(exc)) from None


@app.command()
def migrate(data_dir: DataDir = None, verbose: Verbose = False) -> None:
    """Migrate the SQL store (the platform's tables and your application's) and create the first owner if there is
    none, then exit; run it once before starting `corral api --no-migrate` processes."""
    settings = _settings(data_dir=data_dir)
    _configure_logging(verbose)
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from corral.sql.migrate import head_revision
    from corral.supervisor import prepare_database

    try:
        generated = prepare_database(settings)
    except CorralError as exc:
        raise _fail(str(exc)) from None
    except SQLAlchemyError as exc:
        where = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise _fail(f"cannot migrate the SQL store at {where}: {reason}") from None
    if generated:
        _show_first_owner(settings.owner_email, generated)
    out.print(f"SQL store migrated to revision {head_revision()}", highlight=False, markup=False)


@app.command()
def worker(
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Queue to consume; repeat for several (default: all)")
    ] = None,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Run one worker process consuming the given queues until SIGTERM or Ctrl-C."""
    settings = _settings(data_dir=data_dir)
    _configure_logging(verbose)
    from corral.connection import resolve_redis_url
    from corral.worker_main import run_worker

    known = _application(settings).registry.work_queues
    unknown = [name for name in queue or [] if name not in known]
    if unknown:
        raise _fail(f"--queue: unknown queue(s) {', '.join(unknown)}; known: {', '.join(known)}", EXIT_USAGE)
    from corral import eventloop

    try:
        loop = eventloop.loop_name(settings.worker_event_loop)
        logging.getLogger("corral.worker").info("worker event loop: %s", loop)
        eventloop.run(run_worker(settings, resolve_redis_url(settings), queue), settings.worker_event_loop)
    except CorralError as exc:
        raise _fail(str(exc)) from None


def _read_data(data: str) -> Any:
    if data.startswith("@"):
        path = Path(data[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(f"--data: cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    else:
        text = data
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(f"--data: not valid JSON: {exc}", EXIT_USAGE) from None


@app.command()
def enqueue(
    name: Annotated[str, typer.Argument(help="Job type, for example email.send")],
    data: Annotated[str, typer.Option("--data", "-d", help="Payload as JSON, or @path to a JSON file")],
    delay_ms: Annotated[int, typer.Option(help="Run no sooner than this many milliseconds from now")] = 0,
    priority: Annotated[int, typer.Option(help="1 is the highest priority; 0 means none")] = 0,
    idempotency_key: Annotated[str | None, typer.Option(help="A second enqueue with this key makes no new job")] = None,
    attempts: Annotated[int | None, typer.Option(help="Override the queue's attempts")] = None,
    data_dir: DataDir = None,
) -> None:
    """Validate a payload against its job type's contract and enqueue it; prints the job id."""
    settings = _settings(data_dir=data_dir)
    payload = _read_data(data)
    from corral.contracts import EnqueueOptions

    options = EnqueueOptions(delay_ms=delay_ms, priority=priority, idempotency_key=idempotency_key, attempts=attempts)
    registry = _application(settings).registry
    try:
        registry.validate(name, payload)
        job_id = asyncio.run(_enqueue(settings, name, payload, options))
    except PayloadValidationError as exc:
        for error in exc.errors:
            err.print(f"[red]invalid payload:[/red] {escape(error.field)}: {escape(error.reason)}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    except (ContractError, EnqueueError) as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except CorralError as exc:
        raise _fail(str(exc)) from None
    out.print(job_id, highlight=False)


async def _enqueue(settings: Settings, name: str, payload: Any, options: Any) -> str:
    """Enqueue as an operator action, audited like the API's `jobs.enqueue`."""
    from corral.cli_services import actor, cli_services

    async with cli_services(settings) as services:
        queue = services.registry.job(name).queue
        async with services.events.action(actor(), "jobs.enqueue", f"queue:{queue}", {"name": name}) as note:
            job_id = await services.queues.enqueue(name, payload, options)
            note.resource, note.affected = f"job:{queue}/{job_id}", 1
        return job_id


@asynccontextmanager
async def _producer(settings: Settings) -> AsyncIterator[Producer]:
    """The application's producer on the configured server that also publishes `job.queued` realtime events."""
    from corral.cli_services import cli_services

    async with cli_services(settings, migrate=False) as services:
        yield services.producer


@app.command()
def queues(
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """Show every queue with its job counts by state, and the DLQ size."""
    settings = _settings(data_dir=data_dir)
    try:
        rows, dlq_size, prefixes = asyncio.run(_queue_counts(settings))
    except CorralError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        # `bullmq` says how BullMQ code (Node or Python) reaches these queues: `new Queue(name, { prefix })`, with the
        # queue's own prefix from `prefixes` (on one server every queue has the same; on a cluster each its hash tag).
        bullmq = {"prefix": Keys(settings.key_prefix).bullmq_prefix, "prefixes": prefixes, "queues": list(rows)}
        out.print_json(data={"queues": rows, "dlq": dlq_size, "bullmq": bullmq})
        return
    from corral.jobs import JOB_STATES

    table = Table(title="Corral queues")
    table.add_column("queue", no_wrap=True)
    for state in JOB_STATES:
        table.add_column(state, justify="right", no_wrap=True)
    for queue, counts in rows.items():
        table.add_row(queue, *(str(counts[state]) for state in JOB_STATES))
    out.print(table)
    out.print(f"dead-letter queue: {dlq_size} entr{'y' if dlq_size == 1 else 'ies'}")


async def _queue_counts(settings: Settings) -> tuple[dict[str, dict[str, int]], int, dict[str, str]]:
    from corral.cli_services import cli_services

    async with cli_services(settings, migrate=False) as services:
        rows = {queue: await services.engine.counts(queue) for queue in services.registry.work_queues}
        prefixes = {queue: services.keys.queue_prefix(queue) for queue in rows}
        return rows, await services.dlq_store.count(), prefixes


@app.command()
def demo(
    rate: Annotated[float, typer.Option(help="Jobs per second", min=0.1, max=10_000)] = 20.0,
    failure_rate: Annotated[float, typer.Option(help="Share of jobs built to fail (0-1)", min=0, max=1)] = 0.1,
    duration: Annotated[float, typer.Option(help="Seconds to run", min=1, max=86_400)] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Random seed, for repeatable traffic")] = None,
    data_dir: DataDir = None,
) -> None:
    """Enqueue the application's demo traffic for a while (the catalogue's: all 19 job types, some built to fail)."""
    settings = _settings(data_dir=data_dir)
    try:
        counts = asyncio.run(_demo(settings, rate, failure_rate, duration, seed))
    except CorralError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"Demo: {sum(counts.values())} jobs enqueued")
    table.add_column("job type", no_wrap=True)
    table.add_column("jobs", justify="right")
    for name, count in sorted(counts.items()):
        table.add_row(name, str(count))
    out.print(table)


async def _demo(
    settings: Settings, rate: float, failure_rate: float, duration: float, seed: int | None
) -> dict[str, int]:
    import random
    import time
    from collections import Counter

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    traffic = _application(settings).demo_traffic
    if traffic is None:
        raise _fail(f"the application {settings.app!r} has no demo traffic", EXIT_USAGE)
    jobs = traffic(random.Random(seed), failure_rate)
    counts: Counter[str] = Counter()
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]demo traffic"),
        BarColumn(),
        TextColumn("{task.fields[sent]} jobs"),
        TimeRemainingColumn(),
        console=err,
    )
    async with _producer(settings) as producer:
        with progress:
            task = progress.add_task("demo", total=duration, sent=0)
            while (elapsed := time.monotonic() - started) < duration:
                due = int(elapsed * rate) + 1 - sum(counts.values())
                if due > 0:
                    batch = [next(jobs) for _ in range(min(due, 1_000))]
                    await producer.enqueue_bulk(batch)
                    counts.update(item.name for item in batch)
                progress.update(task, completed=min(elapsed, duration), sent=sum(counts.values()))
                await asyncio.sleep(min(0.1, 1 / rate))
            progress.update(task, completed=duration)
    return dict(counts)


def main() -> None:
    """Entry point of the `corral` console script: errors a command did not report become one `error:` line."""
    from redis.exceptions import RedisError

    from corral.availability import unavailable_reason
    from corral.connection import resolve_redis_url

    try:
        app()
    except RedisError as exc:
        reason = unavailable_reason(exc) or str(exc)
        try:
            where = redact_url(resolve_redis_url(Settings()))
        except (CorralError, ValidationError):
            where = "the configured server"
        err.print(f"[red]error:[/red] cannot use Redis/Valkey at {escape(where)}: {escape(reason)}", highlight=False)
        sys.exit(EXIT_FAILURE)
    except OSError as exc:
        place = f" {exc.filename}" if exc.filename else ""
        err.print(f"[red]error:[/red] {escape(exc.strerror or str(exc))}:{escape(place)}", highlight=False)
        sys.exit(EXIT_FAILURE)


from corral.cli_dlq import dlq_app, releases_app  # noqa: E402
from corral.cli_monitoring import monitoring_app  # noqa: E402
from corral.cli_schedules import schedules_app  # noqa: E402
from corral.cli_users import users_app  # noqa: E402 - the sub-apps import this module's helpers

app.add_typer(users_app, name="users")
app.add_typer(dlq_app, name="dlq")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(schedules_app, name="schedules")
app.add_typer(releases_app, name="releases")
