"""`corral users ...`: create, list and disable accounts in the SQL store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from corral.errors import CorralError
from corral.security.permissions import Role
from corral.security.users import Account, UserService
from corral.settings import Settings

users_app = typer.Typer(
    help="Manage accounts: owners see and operate everything; other roles only what is granted.", no_args_is_help=True
)
out = Console(width=160) if not sys.stdout.isatty() else Console()
err = Console(stderr=True)

T = TypeVar("T")
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or ./.corral)")
]


def _run(settings: Settings, action: Callable[[UserService], Coroutine[Any, Any, T]]) -> T:
    from corral.store import Database, upgrade

    try:
        upgrade(settings.resolved_database_url)
        database = Database(settings.resolved_database_url)
        try:
            return asyncio.run(action(UserService(database)))
        finally:
            database.dispose()
    except CorralError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _settings(data_dir: Path | None) -> Settings:
    from corral.cli import _settings as build

    return build(data_dir=data_dir)


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Repeat password", hide_input=True)
    if first != second:
        err.print("[red]error:[/red] the passwords differ")
        raise typer.Exit(2)
    return str(first)


@users_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="The account's email, its sign-in name")],
    role: Annotated[Role, typer.Option(help="owner, admin, editor or viewer")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create an account; asks for the password (at least 12 characters), or reads it from stdin."""
    settings = _settings(data_dir)
    password = _read_password(password_stdin)
    account = _run(settings, lambda users: users.create(email, role, password))
    out.print(f"created {account.role.value} {account.email} (id {account.id})", highlight=False)


@users_app.command("list")
def list_accounts(data_dir: DataDir = None) -> None:
    """List every account with its role and state."""
    accounts: list[Account] = _run(_settings(data_dir), lambda users: users.list())
    table = Table(title="Corral accounts")
    for column in ("id", "email", "role", "state", "created", "last sign-in"):
        table.add_column(column, no_wrap=True)
    for account in accounts:
        table.add_row(
            str(account.id),
            account.email,
            account.role.value,
            "active" if account.active else "disabled",
            account.created_at.strftime("%Y-%m-%d %H:%M"),
            account.last_login_at.strftime("%Y-%m-%d %H:%M") if account.last_login_at else "-",
        )
    out.print(table)


@users_app.command("disable")
def disable(
    email: Annotated[str, typer.Option(help="The account to disable")],
    data_dir: DataDir = None,
) -> None:
    """Disable an account: it can no longer sign in and its tokens stop working (sessions end on their next use)."""
    account = _run(_settings(data_dir), lambda users: users.disable(email))
    out.print(f"disabled {account.email}", highlight=False)


@users_app.command("set-password")
def set_password(
    email: Annotated[str, typer.Option(help="The account whose password changes")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    data_dir: DataDir = None,
) -> None:
    """Set a new password for an account (at least 12 characters)."""
    settings = _settings(data_dir)
    password = _read_password(password_stdin)
    account = _run(settings, lambda users: users.set_password(email, password))
    out.print(f"password changed for {account.email}", highlight=False)
