"""`corral schedules ...` on a real Valkey: add (idempotent), list, edit, pause, resume, run, remove; each change
audited with the command's actor; bad input is an `error:` line naming the field and a non-zero exit."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.security.audit import AuditFilter, AuditRow
from corral.services import Services, build_services
from corral.settings import Settings
from corral_reference.contracts import default_registry

CLEANUP = json.dumps({"target": "failed", "olderThanHours": 48})


@pytest.fixture
def run_cli(settings: Settings):
    runner = CliRunner()
    env = {"CORRAL_REDIS_URL": settings.redis_url, "CORRAL_DATA_DIR": str(settings.data_dir), "CORRAL_ACTOR": ""}

    def run(*args: str):
        return runner.invoke(app, list(args), env=env)

    return run


def _audit(settings: Settings, action: str) -> list[AuditRow]:
    async def main() -> list[AuditRow]:
        services = build_services(settings, str(settings.redis_url), default_registry(), "test", Services)
        try:
            return await services.audit.page(AuditFilter(action=action))
        finally:
            await services.close()

    return asyncio.run(main())


def test_schedules_from_the_shell_add_list_edit_pause_resume_run_and_remove(run_cli, settings) -> None:
    # Given a schedule added twice from a shell
    added = run_cli("schedules", "add", "cleanup-failed", "--job", "system.cleanup", "--data", CLEANUP, "--every", "2h")
    again = run_cli("schedules", "add", "cleanup-failed", "--job", "system.cleanup", "--data", CLEANUP, "--every", "2h")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("created") and "every 7200000 ms" in added.output
    assert again.exit_code == 0 and again.output.startswith("unchanged")
    # Then it is listed with its queue, rule, status and next run
    listed = run_cli("schedules", "list", "--json")
    [schedule] = json.loads(listed.output)
    assert (schedule["queue"], schedule["id"], schedule["every_ms"], schedule["status"]) == (
        "system",
        "cleanup-failed",
        7_200_000,
        "active",
    )
    assert schedule["next_run"] > 0
    table = run_cli("schedules", "list")
    assert "cleanup-failed" in table.output and "UTC" in table.output
    # When it is edited to a cron pattern, paused, run now and resumed
    edited = run_cli("schedules", "edit", "system", "cleanup-failed", "--cron", "30 2 * * *", "--tz", "Europe/Paris")
    assert edited.exit_code == 0, edited.output
    assert "changed: every_ms, cron, tz" in edited.output and "cron 30 2 * * * (Europe/Paris)" in edited.output
    paused = run_cli("schedules", "pause", "system", "cleanup-failed")
    assert paused.exit_code == 0 and paused.output.startswith("paused")
    assert "unchanged (already paused)" in run_cli("schedules", "pause", "system", "cleanup-failed").output
    ran = run_cli("schedules", "run", "system", "cleanup-failed")
    assert ran.exit_code == 0 and ran.output.strip()
    resumed = run_cli("schedules", "resume", "system", "cleanup-failed", "--json")
    assert resumed.exit_code == 0 and json.loads(resumed.output)["status"] == "active"
    # And removed
    removed = run_cli("schedules", "remove", "system", "cleanup-failed")
    assert removed.exit_code == 0 and json.loads(run_cli("schedules", "list", "--json").output) == []
    # Every change was audited with the shell's actor
    for action in ("schedules.create", "schedules.edit", "schedules.pause", "schedules.run", "schedules.resume"):
        rows = _audit(settings, action)
        assert rows and all(row.actor.startswith("cli:") for row in rows), action
        assert all(row.params["source"] == "cli" for row in rows)
    [run_row] = _audit(settings, "schedules.run")
    assert run_row.params["job_id"] == ran.output.strip() and run_row.resource == "schedule:system/cleanup-failed"
    [remove_row] = _audit(settings, "schedules.remove")
    assert remove_row.result == "ok" and remove_row.affected == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--every", "soon"), "--every: 'soon' is not a duration"),
        (("--every", "10ms"), "every_ms: whole milliseconds between 1000"),
        (("--cron", "99 * * * *"), "cron:"),
        (("--cron", "* * * * *", "--tz", "Nowhere/Land"), "tz: unknown time zone"),
        (("--every", "1m", "--cron", "* * * * *"), "every_ms: give either every_ms or cron, not both"),
        ((), "cron: give either every_ms"),
    ],
)
def test_a_bad_rule_is_an_error_line_naming_the_field(run_cli, args, message) -> None:
    result = run_cli("schedules", "add", "s1", "--job", "system.cleanup", "--data", CLEANUP, *args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_bad_payloads_unknown_jobs_and_missing_schedules_are_errors_not_tracebacks(run_cli, settings) -> None:
    bad = run_cli("schedules", "add", "s1", "--job", "system.cleanup", "--data", '{"target": "x"}', "--every", "1h")
    assert bad.exit_code == 2 and "payload.target" in bad.output and "payload.olderThanHours" in bad.output
    unknown = run_cli("schedules", "add", "s1", "--job", "no.such", "--data", "{}", "--every", "1h")
    assert unknown.exit_code == 2 and "error: name: unknown job type 'no.such'" in unknown.output
    missing = run_cli("schedules", "pause", "system", "nope")
    assert missing.exit_code == 1 and "error: no schedule 'nope' on queue 'system'" in missing.output
    nothing = run_cli("schedules", "edit", "system", "nope")
    assert nothing.exit_code == 2 and "nothing to change" in nothing.output
    for result in (bad, unknown, missing, nothing):
        assert "Traceback" not in result.output
    # A refused action is audited too, with its error
    [refused] = _audit(settings, "schedules.pause")
    assert refused.result == "error NotFoundError"
