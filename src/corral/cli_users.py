"""`corral users ...`: create, list, disable accounts, change a password or a role, in the SQL store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from corral.cli_services import actor, cli_services, cli_store_services
from corral.errors import ConfigurationError, CorralError
from corral.security.permissions import Role
from corral.security.users import Account, UserService
from corral.services import StoreServices
from corral.settings import Settings

users_app = typer.Typer(
    help="Manage accounts: owners see and operate everything; other roles only what is granted.", no_args_is_help=True
)
# Output shows user text (payloads, reasons, patterns such as '^[a-z]*$') as it is: no markup is parsed in it.
out = Console(width=160, markup=False) if not sys.stdout.isatty() else Console(markup=False)
err = Console(stderr=True)

T = TypeVar("T")
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or ./.corral)")
]


def _run(settings: Settings, action: Callable[[StoreServices], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(_with_store(settings, action))
    except CorralError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


async def _with_store(settings: Settings, action: Callable[[StoreServices], Coroutine[Any, Any, T]]) -> T:
    async with cli_store_services(settings) as services:
        return await action(services)


def _act(
    settings: Settings,
    name: str,
    email: str,
    params: dict[str, Any],
    change: Callable[[UserService], Coroutine[Any, Any, Account]],
) -> Account:
    """Run one account change as an operator action (audited with the command's actor); returns the account."""

    async def run(services: StoreServices) -> Account:
        async with services.events.action(actor(), name, f"user:{email}", params) as note:
            account = await change(services.users)
            note.affected = 1
        return account

    return _run(settings, run)


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
    account = _act(
        settings,
        "users.create",
        email,
        {"email": email, "role": role.value},
        lambda users: users.create(email, role, password),
    )
    out.print(f"created {account.role.value} {account.email} (id {account.id})", highlight=False)


@users_app.command("list")
def list_accounts(data_dir: DataDir = None) -> None:
    """List every account with its role and state."""
    accounts: list[Account] = _run(_settings(data_dir), lambda services: services.users.list())
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
    """Disable an account: it can no longer sign in, its sessions end and its tokens stop working."""
    settings = _settings(data_dir)
    account = _act(settings, "users.disable", email, {"email": email}, lambda users: users.disable(email))
    asyncio.run(_forget_access(settings, account.id))
    out.print(f"disabled {account.email}", highlight=False)


async def _forget_access(settings: Settings, user_id: int) -> None:
    """End the account's sessions and drop its cached tokens (after a disable, a password or a role change), when
    Corral's server is reachable."""
    from redis.exceptions import RedisError

    try:
        async with cli_services(settings) as services:
            await services.sessions.end_all(user_id)
            await services.tokens.forget_account(user_id)
    except ConfigurationError:
        return  # no server: nothing is cached, and sessions are refused once the account is read as disabled
    except (OSError, RedisError) as exc:
        reason = escape(str(exc))
        err.print(f"[yellow]warning:[/yellow] could not reach Redis to end sessions: {reason}", highlight=False)


@users_app.command("set-password")
def set_password(
    email: Annotated[str, typer.Option(help="The account whose password changes")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from standard input")] = False,
    data_dir: DataDir = None,
) -> None:
    """Set a new password for an account (at least 12 characters); its sessions end and its cached tokens drop."""
    settings = _settings(data_dir)
    password = _read_password(password_stdin)
    account = _act(
        settings, "users.set_password", email, {"email": email}, lambda users: users.set_password(email, password)
    )
    asyncio.run(_forget_access(settings, account.id))
    out.print(f"password changed for {account.email}; its sessions were ended", highlight=False)


@users_app.command("set-role")
def set_role(
    email: Annotated[str, typer.Option(help="The account whose role changes")],
    role: Annotated[Role, typer.Option(help="owner, admin, editor or viewer")],
    data_dir: DataDir = None,
) -> None:
    """Give an account another role; its sessions end and its cached tokens drop. The last owner keeps hers."""
    settings = _settings(data_dir)
    account = _act(
        settings,
        "users.set_role",
        email,
        {"email": email, "role": role.value},
        lambda users: users.set_role(email, role),
    )
    asyncio.run(_forget_access(settings, account.id))
    out.print(f"{account.email} is now {account.role.value}; its sessions were ended", highlight=False)
