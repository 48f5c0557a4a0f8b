"""What a CORRAL_REDIS_URL names, and the clear refusal of one Corral cannot use."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corral.errors import ConfigurationError
from corral.keys import Keys
from corral.redis_url import ClusterTarget, SentinelTarget, check_redis_url, cluster_target, sentinel_target
from corral.server import redact_url

from corral_up import CORRAL_COMMAND, user_environment


def test_a_sentinel_url_names_the_sentinels_the_service_and_both_sets_of_credentials() -> None:
    url = "redis+sentinel://app:s%40cret@127.0.0.1:26379,127.0.0.2:26380/corral/2?sentinel_password=watch"
    assert sentinel_target(url) == SentinelTarget(
        sentinels=(("127.0.0.1", 26379), ("127.0.0.2", 26380)),
        service="corral",
        db=2,
        username="app",
        password="s@cret",
        sentinel_password="watch",
    )
    assert sentinel_target("redis+sentinel://[::1]:26379/corral") == SentinelTarget((("::1", 26379),), "corral")


def test_a_cluster_url_names_some_nodes_and_the_credentials_of_every_node() -> None:
    url = "redis+cluster://app:s%40cret@127.0.0.1:7000,127.0.0.2:7001"
    assert cluster_target(url) == ClusterTarget(
        nodes=(("127.0.0.1", 7000), ("127.0.0.2", 7001)), username="app", password="s@cret"
    )
    assert cluster_target(url).credentials() == {"username": "app", "password": "s@cret"}
    tls = cluster_target("rediss+cluster://:pw@[::1]:7000")
    assert tls == ClusterTarget((("::1", 7000),), password="pw", tls=True)
    assert tls.credentials() == {"password": "pw", "ssl": True}


def test_on_a_cluster_corrals_keys_share_one_slot_and_each_queue_has_its_own_hash_tag() -> None:
    keys = Keys.for_server("corral", "redis+cluster://127.0.0.1:7000", {"workflows": "flows", "ai": "flows"})
    assert keys.dlq_entry("7") == "{corral}:dlq:entry:7"
    assert keys.dlq_sources.startswith("{corral}:")
    assert keys.queue_prefix("email") == "corral:q:{email}"
    assert keys.queue("ai", "wait") == "corral:q:{flows}:ai:wait"
    assert keys.queue_prefix("workflows") == keys.queue_prefix("ai").replace("ai", "workflows") == "corral:q:{flows}"
    assert keys.parse_job_key("corral:q:{flows}:ai:42") == ("ai", "42")
    # On one server nothing changes: the layout Node BullMQ code and existing data already use
    plain = Keys.for_server("corral", "redis://127.0.0.1:6379", {"ai": "flows"})
    assert plain == Keys("corral")
    assert plain.queue("ai", "wait") == "corral:q:ai:wait"
    assert plain.parse_job_key("corral:q:ai:42") == ("ai", "42")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+sentinel:///corral", "at least one sentinel"),
        ("redis+sentinel://127.0.0.1/corral", "is not host:port"),
        ("redis+sentinel://127.0.0.1:99999/corral", "is not host:port"),
        ("redis+sentinel://127.0.0.1:26379", "/service_name"),
        ("redis+sentinel://127.0.0.1:26379/corral/x", "database 'x' is not a number"),
        ("redis+sentinel://127.0.0.1:26379/corral?socket=1", "unknown Sentinel option 'socket'"),
        ("redis+cluster://", "at least one node"),
        ("redis+cluster://127.0.0.1", "cluster node address '127.0.0.1' is not host:port"),
        ("redis+cluster://127.0.0.1:7000/2", "no database"),
        ("rediss+sentinel://127.0.0.1:26379/corral", "TLS to Sentinel is not supported"),
        ("memcached://127.0.0.1:11211", "unknown scheme 'memcached'"),
        ("127.0.0.1:6379", "unknown scheme '(none)'"),
    ],
)
def test_a_url_corral_cannot_use_is_refused_naming_why(url: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_redis_url(url)


def test_plain_server_urls_are_accepted() -> None:
    for url in ("redis://127.0.0.1:6379/0", "rediss://:pw@127.0.0.1:6380", "unix:///run/valkey.sock?db=1"):
        check_redis_url(url)


def test_passwords_are_masked_in_logged_urls_a_sentinels_too() -> None:
    assert redact_url("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert (
        redact_url("redis+sentinel://app:pw@127.0.0.1:26379/corral?sentinel_password=watch")
        == "redis+sentinel://app:***@127.0.0.1:26379/corral?sentinel_password=***"
    )
    assert redact_url("unix:///run/valkey.sock?db=1&password=pw") == "unix:///run/valkey.sock?db=1&password=***"
    assert redact_url("redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001") == (
        "redis+cluster://:***@127.0.0.1:7000,127.0.0.1:7001"
    )


@pytest.mark.parametrize("command", [["worker"], ["queues"]])
def test_a_command_given_a_url_it_cannot_use_says_so_and_exits_non_zero(command: list[str], tmp_path: Path) -> None:
    # Given a cluster URL naming a database, which a cluster does not have
    env = user_environment(CORRAL_REDIS_URL="redis+cluster://127.0.0.1:7000/3", CORRAL_DATA_DIR=str(tmp_path))
    # When a command is run with it
    run = subprocess.run([CORRAL_COMMAND, *command], env=env, capture_output=True, text=True, timeout=120)
    # Then it exits non-zero with one clear line and no traceback
    assert run.returncode != 0
    assert "a Cluster URL has no database" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
