"""`corral dlq show` and `export` mask secret payload fields; `show --reveal` shows them and logs the data access."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from corral.cli import app
from corral.contracts.secrets import MASK
from corral.security.audit import AccessFilter, AuditTrail
from corral.settings import Settings
from corral.sql import Database
from dlq.dlq_peers import seeder

__all__ = ["seeder"]

SECRET = "vault:whsec-cli-90b"


def test_show_and_export_mask_secrets_and_reveal_is_logged(valkey_url: str, tmp_path: Path, seeder) -> None:
    # Given a dead webhook job whose payload holds a secret reference, quoted by its failure reason
    payload = {"pluginId": "crm", "url": "http://127.0.0.1:9/hook", "event": "e", "body": {}, "secretRef": SECRET}
    entry_id = seeder.add("plugin.webhook", payload, f"HTTP 410: no key {SECRET}")
    env = {"CORRAL_REDIS_URL": valkey_url, "CORRAL_DATA_DIR": str(tmp_path / "data"), "CORRAL_ACTOR": "ops@x.org"}
    runner = CliRunner()
    # When the entry is shown, exported as JSON Lines and CSV, then shown with --reveal
    shown = runner.invoke(app, ["dlq", "show", entry_id], env=env)
    for fmt in ("jsonl", "csv"):
        exported = runner.invoke(
            app, ["dlq", "export", "--output", str(tmp_path / f"out.{fmt}"), "--format", fmt], env=env
        )
        assert exported.exit_code == 0, exported.output
    revealed = runner.invoke(app, ["dlq", "show", entry_id, "--reveal"], env=env)
    # Then only the reveal prints the value; the show and both files keep the key with the mask
    assert shown.exit_code == 0 and json.loads(shown.stdout)["data"]["secretRef"] == MASK
    assert SECRET not in shown.output
    assert json.loads(shown.stdout)["failed_reason"] == f"HTTP 410: no key {MASK}"
    assert all(SECRET not in line for line in json.loads(shown.stdout)["stacktrace"])
    assert json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])["data"]["secretRef"] == MASK
    for fmt in ("jsonl", "csv"):
        assert SECRET not in (tmp_path / f"out.{fmt}").read_text()
    assert MASK in (tmp_path / "out.csv").read_text(encoding="utf-8")
    assert revealed.exit_code == 0 and json.loads(revealed.stdout)["data"]["secretRef"] == SECRET
    # And the data-access log names who revealed which entry's fields
    database_url = Settings(redis_url=valkey_url, data_dir=tmp_path / "data").resolved_database_url
    trail = AuditTrail(Database(database_url))
    rows = asyncio.run(trail.accesses(where=AccessFilter(target_type="dlq_entry_secrets")))
    assert [(r.actor, r.target_ids, r.details["fields"]) for r in rows] == [("ops@x.org", [entry_id], ["secretRef"])]
