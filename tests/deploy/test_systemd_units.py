"""The systemd units shipped in deploy/systemd: valid for `systemd-analyze verify`, commands the CLI accepts,
and an environment file that names only real settings."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corral.settings import Settings

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED_CORRAL = "/opt/corral/.venv/bin/corral"
CORRAL = Path(sys.executable).with_name("corral")
UNIT_FILES = ("corral.target", "corral-migrate.service", "corral-api@.service", "corral-worker@.service")
# Variables the units themselves read, beside Corral's settings.
UNIT_VARIABLES = {"CORRAL_WORKER_ARGS"}


def _installed_copy(target: Path, corral: str = str(CORRAL)) -> list[Path]:
    """The units as an administrator installs them, with this checkout's `corral` and paths in `target`;
    templates instantiated once (`@1`)."""
    data = target / "data"
    data.mkdir(parents=True, exist_ok=True)
    env_file = target / "corral.env"
    shutil.copy(UNITS / "corral.env.example", env_file)
    made = []
    for name in UNIT_FILES:
        text = (UNITS / name).read_text()
        text = text.replace(INSTALLED_CORRAL, corral)
        text = text.replace("/etc/corral/corral.env", str(env_file)).replace("/var/lib/corral", str(data))
        path = target / name.replace("@.", "@1.")
        path.write_text(text)
        made.append(path)
    return made


def _verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units are untested on this machine")
    return subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # Given the shipped units installed with this checkout's corral
    units = _installed_copy(tmp_path)
    # When systemd checks them
    checked = _verify(units)
    # Then it finds nothing wrong with any of them
    assert checked.returncode == 0, checked.stderr
    assert not any(unit.name in checked.stderr for unit in units), checked.stderr


def test_the_check_catches_a_unit_whose_command_is_missing(tmp_path: Path) -> None:
    # Given the units pointing at a corral that is not installed
    units = _installed_copy(tmp_path, corral=str(tmp_path / "missing" / "corral"))
    # When systemd checks them, then it refuses them and names the command
    checked = _verify(units)
    assert checked.returncode != 0
    assert "missing/corral" in checked.stderr


def _exec_starts() -> list[list[str]]:
    commands = []
    for name in UNIT_FILES:
        for line in (UNITS / name).read_text().splitlines():
            if line.startswith("ExecStart="):
                words = line.removeprefix("ExecStart=").replace("$CORRAL_WORKER_ARGS", "--queue email").split()
                assert words[0] == INSTALLED_CORRAL, line
                commands.append(words[1:])
    return commands


@pytest.mark.parametrize("arguments", _exec_starts(), ids=lambda words: " ".join(words))
def test_every_unit_runs_a_command_the_cli_accepts(arguments: list[str]) -> None:
    # The command line of each unit parses (every option exists); --help stops before it would run
    parsed = subprocess.run(
        [str(CORRAL), *arguments, "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert parsed.returncode == 0, parsed.stderr


def test_the_environment_file_names_only_real_settings() -> None:
    names = re.findall(r"^#?(CORRAL_[A-Z_]+)=", (UNITS / "corral.env.example").read_text(), flags=re.MULTILINE)
    fields = {f"CORRAL_{name.upper()}" for name in Settings.model_fields}
    assert names and set(names) <= fields | UNIT_VARIABLES, set(names) - fields - UNIT_VARIABLES
