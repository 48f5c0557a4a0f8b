"""CLI mutations are operator events: audited with the command's actor, and the monitoring cache drops."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.security.audit import AuditFilter, AuditRow
from corral.services import Services, build_services
from corral.settings import Settings
from corral_reference.contracts import default_registry
from dlq.dlq_peers import email, seeder

__all__ = ["seeder"]


@pytest.fixture
def run_cli(settings: Settings):
    runner = CliRunner()
    env = {"CORRAL_REDIS_URL": settings.redis_url, "CORRAL_DATA_DIR": str(settings.data_dir), "CORRAL_ACTOR": ""}

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), env=env, input=input)

    return run


def _with_services(settings: Settings, use):
    async def main():
        services = build_services(settings, str(settings.redis_url), default_registry(), "test", Services)
        try:
            return await use(services)
        finally:
            await services.close()

    return asyncio.run(main())


def _audit(settings: Settings, action: str) -> list[AuditRow]:
    return _with_services(settings, lambda s: s.audit.page(AuditFilter(action=action)))


def _stats_cached(settings: Settings) -> bool:
    async def read(s: Services) -> bool:
        _, cached = await s.monitoring.stats.stats()
        return cached

    return _with_services(settings, read)


def test_dlq_replay_is_audited_with_the_cli_actor_and_drops_the_stats_cache(run_cli, seeder, settings) -> None:
    # Given a dead email job and the queue stats computed once, so they are cached
    entry = seeder.add("email.send", email("ops@x.org"), "SMTP 421")
    run_cli("dlq", "list")  # migrates the store, as any command does
    _stats_cached(settings)
    assert _stats_cached(settings) is True
    # When an operator replays it from a shell, and then deletes another entry under an explicit actor
    replayed = run_cli("dlq", "replay", entry)
    other = seeder.add("email.send", email("two@x.org"), "SMTP 421")
    deleted = run_cli("--actor", "deploy-bot", "dlq", "delete", other)
    # Then each wrote one audit row naming its actor, source and outcome
    assert replayed.exit_code == 0, replayed.output
    assert deleted.exit_code == 0, deleted.output
    [replay] = _audit(settings, "dlq.replay")
    assert replay.actor == f"cli:{getpass.getuser()}" and replay.resource == f"dlq:{entry}"
    assert replay.result == "ok" and replay.affected == 1 and replay.params["source"] == "cli"
    assert replay.params["job_id"] == f"dlq-{entry}-r1"
    [delete] = _audit(settings, "dlq.delete")
    assert delete.actor == "deploy-bot" and delete.affected == 1
    # And the cached stats were dropped: the next read computes afresh
    assert _stats_cached(settings) is False


def test_a_failed_cli_action_is_audited_with_its_outcome(run_cli, settings) -> None:
    # Given no DLQ entry 404
    # When an operator tries to replay it
    result = run_cli("dlq", "replay", "404")
    # Then the command fails, and the attempt is in the audit log as an error
    assert result.exit_code == 1
    [row] = _audit(settings, "dlq.replay")
    assert row.result == "error NotFoundError" and row.affected == 0


def test_users_commands_are_audited_with_the_cli_actor(run_cli, settings, tmp_path: Path) -> None:
    # Given an account created from the command line
    created = run_cli("users", "create", "--email", "ed@example.com", "--role", "editor", "--password-stdin",
                      input="a long enough password\n")  # fmt: skip
    # When it is disabled by a named actor, and a role change for an unknown account is refused
    disabled = run_cli("--actor", "alice", "users", "disable", "--email", "ed@example.com")
    refused = run_cli("users", "set-role", "--email", "nobody@example.com", "--role", "viewer")
    # Then each action has one audit row, with its actor and outcome, and no password in it
    assert created.exit_code == 0, created.output
    assert disabled.exit_code == 0, disabled.output
    assert refused.exit_code == 2
    [create] = _audit(settings, "users.create")
    assert create.actor == f"cli:{getpass.getuser()}" and create.params["role"] == "editor"
    assert "a long enough password" not in str(create.params)
    [disable] = _audit(settings, "users.disable")
    assert disable.actor == "alice" and disable.resource == "user:ed@example.com" and disable.result == "ok"
    [role] = _audit(settings, "users.set_role")
    assert role.result.startswith("error ")


def test_a_release_marked_from_a_shell_is_audited_tags_new_entries_and_is_listed(run_cli, seeder, settings) -> None:
    # Given a deploy script that marks release 2.4.0 under its own actor
    marked = run_cli("--actor", "deploy-bot", "releases", "mark", "2.4.0")
    assert marked.exit_code == 0, marked.output
    assert marked.output.strip() == "marked 2.4.0"
    # When a job dies after it
    entry = seeder.add("email.send", email("ops@x.org"), "SMTP 421")
    # Then the entry carries the release, the DLQ lists by it and the stats name the release
    listed = run_cli("dlq", "list", "--release", "2.4.0", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(item["id"], item["release"]) for item in json.loads(listed.output)["items"]] == [(entry, "2.4.0")]
    assert "by release: 2.4.0 1" in run_cli("dlq", "stats").output
    # And the release is listed as current, marked by the deploy script from the command line
    shown = json.loads(run_cli("releases", "list", "--json").output)
    assert shown["current"] == "2.4.0"
    assert [(r["name"], r["marked_by"], r["source"]) for r in shown["items"]] == [("2.4.0", "deploy-bot", "cli")]
    # And marking it again says so; the audit log has both marks with their actor
    assert "current again" in run_cli("releases", "mark", "2.4.0").output
    rows = _audit(settings, "releases.mark")
    assert [(row.actor, row.affected) for row in rows] == [(f"cli:{getpass.getuser()}", 0), ("deploy-bot", 1)]
    # And a bad name is an error line naming the field, a non-zero exit, and nothing recorded
    refused = run_cli("releases", "mark", "two words")
    assert refused.exit_code != 0 and "name" in refused.output and "Traceback" not in refused.output
    assert len(json.loads(run_cli("releases", "list", "--json").output)["items"]) == 1
