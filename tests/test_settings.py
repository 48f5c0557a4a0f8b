"""Settings refuse unsafe values at start: short metrics tokens, malformed trusted proxies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from corral.server import free_port
from corral.settings import Settings

from owned_processes import ProcessGroup


def test_a_metrics_token_shorter_than_32_characters_is_refused() -> None:
    # When a metrics token of 31 characters is configured, then the settings are refused naming it
    with pytest.raises(ValidationError) as refused:
        Settings(metrics_token=SecretStr("m" * 31))
    assert refused.value.errors()[0]["loc"] == ("metrics_token",)
    assert "at least 32 characters" in str(refused.value)
    # And 32 characters, or none at all (metrics off), are accepted
    assert Settings(metrics_token=SecretStr("m" * 32)).metrics_token.get_secret_value() == "m" * 32
    assert Settings(metrics_token=SecretStr("")).metrics_token.get_secret_value() == ""


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies=["10.0.0.1", "192.168.0.0/16", "::1"]).trusted_proxies[1] == "192.168.0.0/16"
    with pytest.raises(ValidationError) as refused:
        Settings(trusted_proxies=["proxy.internal"])
    assert "not an IP address or network" in str(refused.value)


def test_corral_up_refuses_to_start_with_a_short_metrics_token(tmp_path: Path, processes: ProcessGroup) -> None:
    # Given a short metrics token in the environment
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORRAL_")}
    env.update(
        CORRAL_KEY_PREFIX=os.environ["CORRAL_KEY_PREFIX"],
        CORRAL_DATA_DIR=str(tmp_path / "data"),
        CORRAL_METRICS_TOKEN="too-short",
    )
    # When `corral up` is started
    up = processes.spawn(
        [sys.executable, "-m", "corral", "up", "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = up.communicate(timeout=120)
    # Then it exits at once with the usage code, naming the setting, before starting anything
    assert up.returncode == 2, output
    assert "setting metrics_token" in output and "at least 32 characters" in output
    assert not (tmp_path / "data" / "valkey").exists()
