"""`corral dlq ...` against a real Valkey: list, show, replay, delete, stats, trends, export, bulk and clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corral.cli import app
from corral.security.audit import AuditFilter, AuditTrail
from corral.settings import Settings
from corral.sql import Database
from dlq.dlq_peers import email, seeder

__all__ = ["seeder"]


@pytest.fixture
def run_dlq(valkey_url: str, tmp_path: Path):
    runner = CliRunner()
    env = {"CORRAL_REDIS_URL": valkey_url, "CORRAL_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, ["dlq", *args], env=env, input=input)

    return run


def test_list_show_replay_delete(run_dlq, seeder) -> None:
    # Given two dead jobs
    first = seeder.add("email.send", email("cli@x.org"), "SMTP 421 for cli@x.org")
    second = seeder.add("ai.seo.meta", {"articleId": "a9", "title": "t", "body": "b"}, "provider 503")
    # When listing, searching, showing, replaying with an invalid then a valid edit, and deleting
    listed = run_dlq("list", "--json")
    searched = run_dlq("list", "--field", "to:cli@x.org", "--json")
    shown = run_dlq("show", first)
    invalid = run_dlq("replay", first, "--payload", '{"to": ["nope"], "subject": "s", "text": "t"}')
    replayed = run_dlq("replay", first, "--payload", json.dumps(email("cli@example.org")))
    deleted = run_dlq("delete", second, "404")
    # Then each prints its outcome and errors exit non-zero without a traceback
    assert listed.exit_code == 0 and [i["id"] for i in json.loads(listed.stdout)["items"]] == [first, second]
    assert [i["id"] for i in json.loads(searched.stdout)["items"]] == [first]
    assert shown.exit_code == 0 and json.loads(shown.stdout)["data"]["to"] == ["cli@x.org"]
    assert invalid.exit_code == 2 and "to.0" in invalid.stderr and "Traceback" not in invalid.output
    assert replayed.exit_code == 0 and f"dlq-{first}-r1" in replayed.stdout and "cli@example.org" in replayed.stdout
    assert deleted.exit_code == 1 and "deleted 1 entry" in deleted.stdout and "404" in deleted.stderr
    assert seeder.waiting("email") == 1


def test_stats_trends_export_bulk_and_clear(run_dlq, seeder, tmp_path: Path) -> None:
    # Given five dead email jobs and one dead AI job
    for i in range(5):
        seeder.add("email.send", email(f"s{i}@x.org"), "=SMTP 550 rejected")
    seeder.add("ai.seo.meta", {"articleId": "a1", "title": "t", "body": "b"}, "provider 503")
    # When reading stats and trends, exporting, replaying the email ones in bulk, then clearing the rest
    stats = run_dlq("stats", "--json")
    trends = run_dlq("trends", "--window", "7d", "--json")
    exported = run_dlq("export", "--output", str(tmp_path / "dlq.csv"), "--queue", "email")
    bulk = run_dlq("replay-all", "--queue", "email", "--rate", "1000", "--yes")
    refused = run_dlq("clear", input="nope\n")
    cleared = run_dlq("clear", input="clear dlq\n")
    after = run_dlq("stats", "--json")
    # Then the figures match, CSV cells are neutralised, the bulk task completed and the clear needed the phrase
    assert json.loads(stats.stdout)["total"] == 6 and json.loads(stats.stdout)["by_queue"]["email"] == 5
    assert json.loads(trends.stdout)["total"] == 6
    assert exported.exit_code == 0 and "wrote 5 entries" in exported.stdout
    assert (tmp_path / "dlq.csv").read_text().count("'=SMTP 550 rejected") == 5
    assert bulk.exit_code == 0 and "5 done" in bulk.stdout
    assert seeder.waiting("email") == 5
    assert refused.exit_code == 1 and "does not match" in refused.stderr
    assert cleared.exit_code == 0 and "6 done" in cleared.stdout
    assert json.loads(after.stdout)["total"] == 0


def test_delete_all_needs_the_typed_phrase(run_dlq, seeder) -> None:
    # Given three dead email jobs and one dead AI job
    for i in range(3):
        seeder.add("email.send", email(f"x{i}@x.org"), "refused")
    seeder.add("ai.seo.meta", {"articleId": "a1", "title": "t", "body": "b"}, "provider 503")
    # When deleting the email ones with a wrong phrase typed, a wrong --phrase, then the right one
    refused = run_dlq("delete-all", "--queue", "email", input="yes\n")
    wrong_option = run_dlq("delete-all", "--queue", "email", "--phrase", "delete")
    kept = json.loads(run_dlq("stats", "--json").stdout)["total"]
    deleted = run_dlq("delete-all", "--queue", "email", input="delete dlq\n")
    # Then nothing was deleted until "delete dlq" was typed, and then only the email entries
    assert refused.exit_code == 1 and "does not match" in refused.stderr
    assert wrong_option.exit_code == 1 and "--phrase must be 'delete dlq'" in wrong_option.stderr
    assert kept == 4
    assert deleted.exit_code == 0 and "3 done" in deleted.stdout
    assert json.loads(run_dlq("stats", "--json").stdout)["by_queue"] == {"ai": 1}


def test_tables_show_failure_reasons_as_they_are(run_dlq, seeder) -> None:
    # Given a dead job whose reason holds text that looks like markup
    seeder.add("email.send", email("m@x.org"), "rejected by [bold]relay[/bold] for pattern '^[a-z]*$'")
    # When the entries and the stats are printed as tables
    listed = run_dlq("list")
    stats = run_dlq("stats")
    # Then the reason is shown whole, brackets included
    assert listed.exit_code == 0 and "[bold]relay[/bold]" in listed.stdout, listed.stdout
    assert "[bold]relay[/bold]" in stats.stdout, stats.stdout


def test_resume_and_brake_options_refuse_bad_input(run_dlq, seeder) -> None:
    # Given one dead job
    seeder.add("email.send", email("brake@x.org"), "refused")
    # When a task that does not exist is resumed, and a replay is asked with a bad brake window
    missing = run_dlq("resume", "nope")
    bad = run_dlq("replay-all", "--brake-window", "0", "--yes")
    braked = run_dlq("replay-all", "--brake-threshold", "0", "--yes")
    # Then each is an error line and a non-zero exit, no traceback; a brake of 0 replays everything
    assert missing.exit_code == 1 and "error" in missing.stderr and "nope" in missing.stderr
    assert bad.exit_code == 2 and "brake-window" in bad.output and "Traceback" not in bad.output
    assert braked.exit_code == 0 and "completed: 1 done" in braked.stdout


def test_replay_all_takes_a_slow_start_and_an_in_flight_limit(run_dlq, seeder, valkey_url, tmp_path) -> None:
    # Given three dead jobs
    for i in range(3):
        seeder.add("email.send", email(f"slow{i}@x.org"), "refused")
    # When they are replayed with a slow start of 50% and 2 jobs in flight, and with bad values
    done = run_dlq("replay-all", "--rate", "100", "--slow-start", "50", "--brake-threshold", "0", "--yes")
    bad_slow = run_dlq("replay-all", "--slow-start", "0", "--yes")
    bad_flight = run_dlq("replay-all", "--max-in-flight", "-1", "--yes")
    listed = run_dlq("tasks")
    # Then the replay completed, each bad value is refused naming its option, and the plan is audited
    assert done.exit_code == 0 and "completed: 3 done" in done.stdout, done.output
    assert bad_slow.exit_code == 2 and "slow-start" in bad_slow.output
    assert bad_flight.exit_code == 2 and "max-in-flight" in bad_flight.output
    assert listed.exit_code == 0 and "replay (filter)" in listed.stdout, listed.stdout
    database_url = Settings(redis_url=valkey_url, data_dir=tmp_path / "data").resolved_database_url
    rows = AuditTrail(Database(database_url)).rows(AuditFilter(action="dlq.bulk_replay"))
    assert any((row.params or {}).get("slow_start") == 50 and row.result == "ok" for row in rows)
