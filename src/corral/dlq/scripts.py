"""The DLQ's Lua scripts, loaded once per client; each keeps entries and their indexes changing together."""

from __future__ import annotations

import json
from importlib import resources

from redis.asyncio import Redis

from corral.keys import Keys


def _lua(name: str) -> str:
    return resources.files("corral.dlq").joinpath("lua", name).read_text(encoding="utf-8")


def key_layout(keys: Keys) -> str:
    """The key names and prefixes the scripts derive their keys from (their ARGV[1]), as JSON."""
    return json.dumps(
        {
            "entry": keys.dlq_entry_prefix,
            "seq": keys.dlq_sequence,
            "byTime": keys.dlq_by_time,
            "sources": keys.dlq_sources,
            "ix": keys.dlq_index_prefix,
            "replayed": keys.dlq_replayed,
            "counts": keys.dlq_counts_prefix,
            "hours": keys.dlq_hours,
            "fp": keys.dlq_fingerprint_prefix,
            "tok": keys.dlq_token_prefix,
            "fpNames": keys.dlq_fingerprint_names,
            "tokNames": keys.dlq_token_names,
            "jobIds": keys.dlq_job_ids,
            "version": keys.dlq_version,
            "currentRelease": keys.current_release,
            "fprel": keys.dlq_fingerprint_releases_prefix,
        },
        separators=(",", ":"),
    )


class DlqScripts:
    """The registered scripts: capture, delete, replay, outcome, rows (with the shared prelude), page and count
    (with the membership test), unlock, and a bulk task's status swap."""

    def __init__(self, redis: Redis) -> None:
        common = _lua("common.lua")
        self.capture = redis.register_script(common + _lua("capture.lua"))
        self.delete = redis.register_script(common + _lua("delete.lua"))
        self.replay = redis.register_script(common + _lua("replay.lua"))
        self.outcome = redis.register_script(common + _lua("outcome.lua"))
        self.rows = redis.register_script(common + _lua("rows.lua"))
        membership = _lua("membership.lua")
        self.page = redis.register_script(membership + _lua("page.lua"))
        self.count = redis.register_script(membership + _lua("count.lua"))
        self.unlock = redis.register_script(_lua("unlock.lua"))
        self.swap_status = redis.register_script(_lua("task_status.lua"))
