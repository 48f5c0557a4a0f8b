"""Property-based run of the OpenAPI schema with schemathesis, as the owner: no 5xx, no schema violation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_schema_fuzzing_finds_no_server_error_and_no_schema_violation(live_api, tmp_path: Path) -> None:
    # Given the served API with budgets large enough for a fuzzing run, and its schema
    api = live_api(
        rate_limit_reads="1000000/minute",
        rate_limit_mutations="1000000/minute",
        rate_limit_exports="1000000/minute",
        rate_limit_login_ip="1000000/minute",
        rate_limit_login_account="1000000/minute",
    )
    schema = api.owner().get("/openapi.json").json()
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert executable, "schemathesis is a dev dependency"
    # When schemathesis generates bounded examples for every operation, as the owner
    # (revoking tokens is left out: it would revoke the token the run authenticates with)
    result = subprocess.run(
        [
            executable,
            "run",
            str(path),
            "--url",
            api.base,
            "-H",
            f"Authorization: Bearer {api.owner_token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--seed",
            "20261128",
            "--max-time",
            "150",
            "--exclude-operation-id-regex",
            "revoke_token",
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    # Then it reports no failure
    assert result.returncode == 0, result.stdout[-8000:]
