"""Every Redis key and pub/sub channel name Corral uses, built from the configured prefix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from corral.redis_url import is_cluster


@dataclass(frozen=True)
class Keys:
    """Key and channel names under one prefix; bullmq's own keys live under `<prefix>:q`.

    On a Redis/Valkey Cluster (`Keys.for_server` with a cluster URL) every key of Corral's own is under one hash tag,
    `{<prefix>}:...`, so each of Corral's scripts and transactions touches one slot; each queue's bullmq keys are
    under the queue's own hash tag, `<prefix>:q:{<tag>}:<queue>:<type>`, so the queues spread over the masters.
    """

    prefix: str
    cluster: bool = False
    root: str = ""
    hash_tags: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_server(cls, prefix: str, redis_url: str, hash_tags: Mapping[str, str] | None = None) -> Keys:
        """The keys under `prefix` on the server `redis_url` names; `hash_tags` maps a queue to its cluster tag (a
        queue not named uses its own name)."""
        if not is_cluster(redis_url):
            return cls(prefix)
        return cls("{" + prefix + "}", cluster=True, root=prefix, hash_tags=tuple(sorted((hash_tags or {}).items())))

    @property
    def bullmq_prefix(self) -> str:
        """The prefix handed to bullmq on one server; its keys are `<prefix>:q:<queue>:<type>`. On a cluster each
        queue has its own (`queue_prefix`)."""
        return f"{self.root or self.prefix}:q"

    def queue_prefix(self, queue: str) -> str:
        """The prefix bullmq is given for one queue (Node BullMQ code reaching the queue uses the same)."""
        if not self.cluster:
            return self.bullmq_prefix
        tag = dict(self.hash_tags).get(queue, queue)
        return f"{self.bullmq_prefix}:{{{tag}}}"

    def queue(self, queue: str, suffix: str = "") -> str:
        """A bullmq key of one queue (`wait`, `failed`, a job id...); empty suffix is the queue's base."""
        base = f"{self.queue_prefix(queue)}:{queue}:"
        return base + suffix

    def parse_job_key(self, key: str) -> tuple[str, str]:
        """(queue, job id) of a bullmq job key (`<queue prefix>:<queue>:<id>`, as a flow's parent or child keys)."""
        rest = key.removeprefix(self.bullmq_prefix + ":")
        if self.cluster and rest.startswith("{"):
            rest = rest.partition("}:")[2]
        queue, _, job_id = rest.partition(":")
        return queue, job_id

    def job(self, queue: str, job_id: str) -> str:
        """The bullmq hash holding one job."""
        return self.queue(queue, job_id)

    # Dead-letter queue
    @property
    def dlq_entry_prefix(self) -> str:
        """Prefix of the hashes holding DLQ entries; the entry id follows."""
        return f"{self.prefix}:dlq:entry:"

    def dlq_entry(self, entry_id: str) -> str:
        """The hash of one DLQ entry."""
        return self.dlq_entry_prefix + entry_id

    @property
    def dlq_sequence(self) -> str:
        """Counter that numbers DLQ entries."""
        return f"{self.prefix}:dlq:seq"

    @property
    def dlq_by_time(self) -> str:
        """Sorted set of entry ids scored by failed-at milliseconds."""
        return f"{self.prefix}:dlq:by-time"

    @property
    def dlq_sources(self) -> str:
        """Hash `<queue>:<job id>:<finished on>` -> entry id; makes capture idempotent."""
        return f"{self.prefix}:dlq:sources"

    def dlq_sweep_mark(self, queue: str) -> str:
        """Finished-on watermark of the sweeper that captures failed jobs missed by a crash."""
        return f"{self.prefix}:dlq:sweep:{queue}"

    def dlq_index(self, kind: str, value: str) -> str:
        """Sorted set of entry ids by failed-at for one `queue`, `name`, `fp`, `status`, `replays` or field value."""
        return f"{self.dlq_index_prefix}{kind}:{value}"

    @property
    def dlq_index_prefix(self) -> str:
        """Prefix of the DLQ's per-value indexes (the capture and delete scripts append `<kind>:<value>`)."""
        return f"{self.prefix}:dlq:ix:"

    @property
    def dlq_replayed(self) -> str:
        """Sorted set of the entries replayed at least once, scored by failed-at."""
        return f"{self.prefix}:dlq:ix:replayed"

    def dlq_counts(self, dimension: str) -> str:
        """Sorted set value -> entry count for one dimension (`queue`, `name`, `fp`, `status`), kept by the scripts."""
        return f"{self.prefix}:dlq:counts:{dimension}"

    @property
    def dlq_counts_prefix(self) -> str:
        """Prefix of the per-dimension count sets (the scripts append the dimension)."""
        return f"{self.prefix}:dlq:counts:"

    @property
    def dlq_hours(self) -> str:
        """Hash hour number (epoch ms // 3600000) -> entries that failed in that hour."""
        return f"{self.prefix}:dlq:hours"

    def dlq_fingerprint(self, fingerprint: str) -> str:
        """Hash of one error fingerprint: its reason pattern, a sample reason and its search tokens."""
        return self.dlq_fingerprint_prefix + fingerprint

    @property
    def dlq_fingerprint_prefix(self) -> str:
        """Prefix of the fingerprint hashes."""
        return f"{self.prefix}:dlq:fp:"

    def dlq_token(self, token: str) -> str:
        """Set of the fingerprints whose reason pattern holds one word; the error-text search index."""
        return self.dlq_token_prefix + token

    @property
    def dlq_token_prefix(self) -> str:
        """Prefix of the error-text token sets."""
        return f"{self.prefix}:dlq:tok:"

    @property
    def dlq_fingerprint_names(self) -> str:
        """Sorted set (all scores 0) of the fingerprints that have entries, for prefix search by ZRANGEBYLEX."""
        return f"{self.prefix}:dlq:fp-names"

    @property
    def dlq_token_names(self) -> str:
        """Sorted set (all scores 0) of the error-text tokens that have fingerprints, for word-prefix search."""
        return f"{self.prefix}:dlq:tok-names"

    @property
    def dlq_job_ids(self) -> str:
        """Hash job id -> the ids of its entries (space-separated); the job-id search index."""
        return f"{self.prefix}:dlq:job-ids"

    @property
    def dlq_version(self) -> str:
        """Counter bumped by every change to the DLQ; cached analytics of an older version are stale."""
        return f"{self.prefix}:dlq:version"

    def dlq_task(self, task_id: str) -> str:
        """Hash of one bulk task: kind, filter, state, progress, heartbeat."""
        return f"{self.prefix}:dlq:task:{task_id}"

    def dlq_task_ids(self, task_id: str) -> str:
        """List of the entry ids a bulk replay by ids goes through, in the order given; deleted when the task ends."""
        return f"{self.prefix}:dlq:task:{task_id}:ids"

    @property
    def dlq_tasks(self) -> str:
        """Sorted set of bulk task ids by creation time."""
        return f"{self.prefix}:dlq:tasks"

    # Releases
    @property
    def releases(self) -> str:
        """Sorted set of release names by when each was first marked or seen (epoch ms)."""
        return f"{self.prefix}:releases"

    @property
    def release_marks(self) -> str:
        """Hash release name -> how it was first marked (JSON: by whom, from where, when)."""
        return f"{self.prefix}:releases:marks"

    @property
    def current_release(self) -> str:
        """The release marked last (`corral releases mark`); DLQ entries of workers not told their release get it."""
        return f"{self.prefix}:releases:current"

    def dlq_fingerprint_releases(self, fingerprint: str) -> str:
        """Sorted set of the releases one failure fingerprint was seen in, by when it was first seen in each."""
        return f"{self.prefix}:dlq:fprel:{fingerprint}"

    @property
    def dlq_fingerprint_releases_prefix(self) -> str:
        """Prefix of the per-fingerprint release sets, for the DLQ's scripts."""
        return f"{self.prefix}:dlq:fprel:"

    # Worker state
    def otp(self, user_id: str, purpose: str) -> str:
        """Hash of one user's pending one-time code for one purpose (HMAC of the code, attempts left).

        Both parts are percent-encoded (`:` becomes `%3A`), so no two (purpose, user) pairs share a key.
        """
        return f"{self.prefix}:otp:{quote(purpose, safe='')}:{quote(user_id, safe='')}"

    def workflow_run(self, run_id: str) -> str:
        """Hash of one workflow run: status and per-step state and results."""
        return f"{self.prefix}:workflow:run:{run_id}"

    # Schedules
    def schedules_paused(self, queue: str) -> str:
        """Hash schedule id -> the paused schedule of one queue (its rule and template), kept while bullmq has none."""
        return f"{self.prefix}:schedules:paused:{queue}"

    # Workers, realtime
    @property
    def workers(self) -> str:
        """Hash of live worker processes, id -> heartbeat document."""
        return f"{self.prefix}:workers"

    @property
    def event_stream(self) -> str:
        """Stream retaining the latest realtime events (about 60 s), for clients that connect or resume."""
        return f"{self.prefix}:events:stream"

    def channel(self, name: str) -> str:
        """A realtime pub/sub channel: owner, queues, workflows, analytics or plugins."""
        return f"{self.prefix}:events:{name}"

    def latest_events(self, room: str) -> str:
        """List of the latest events of one gateway room (global, `queue:<name>`, workflows...), newest first."""
        return f"{self.prefix}:events:latest:{room}"

    # Monitoring
    def metrics_bucket(self, granularity: str, queue: str, bucket: int) -> str:
        """Hash of one queue's counters and timings for one minute (`m`) or hour (`h`) starting at `bucket` (s)."""
        return f"{self.prefix}:metrics:{granularity}:{queue}:{bucket}"

    def failure_bucket(self, granularity: str, queue: str, bucket: int) -> str:
        """Hash of one queue's failure counts by fingerprint and job type for one minute (`m`) or hour (`h`)."""
        return f"{self.prefix}:failures:{granularity}:{queue}:{bucket}"

    @property
    def metrics_totals(self) -> str:
        """Hash of cumulative counters and processing-time histograms of every queue, for Prometheus."""
        return f"{self.prefix}:metrics:totals"

    @property
    def failure_patterns(self) -> str:
        """Hash fingerprint -> normalised failure reason and one raw sample."""
        return f"{self.prefix}:metrics:failure-patterns"

    def monitoring_cache(self, name: str) -> str:
        """A cached monitoring answer: `stats`, `health`, or a metrics query's digest."""
        return f"{self.prefix}:monitoring:cache:{name}"

    @property
    def monitoring_cache_generation(self) -> str:
        """Counter bumped by queue operations; cached monitoring answers of an older generation are stale."""
        return f"{self.prefix}:monitoring:cache-generation"

    @property
    def alerts_firing(self) -> str:
        """Hash alert key (`<rule>:<queue>`) -> the firing alert's document."""
        return f"{self.prefix}:alerts:firing"

    @property
    def alerts_history(self) -> str:
        """List of alert transitions (fired, resolved), newest first, capped."""
        return f"{self.prefix}:alerts:history"

    @property
    def alerts_acknowledged(self) -> str:
        """Hash alert key -> who acknowledged the firing alert and when (dropped when it resolves)."""
        return f"{self.prefix}:alerts:acknowledged"

    @property
    def alerts_sequence(self) -> str:
        """Counter that numbers alerts."""
        return f"{self.prefix}:alerts:seq"

    def alert_cooldown(self, alert_key: str) -> str:
        """Marker, with a TTL, that an alert resolved recently and may not fire again yet."""
        return f"{self.prefix}:alerts:cooldown:{alert_key}"

    # Security
    def session(self, digest: str) -> str:
        """A login session, by the digest of its cookie value."""
        return f"{self.prefix}:session:{digest}"

    def user_sessions(self, user_id: int) -> str:
        """Set of the session digests of one account, to end them all at once."""
        return f"{self.prefix}:user-sessions:{user_id}"

    def token_cache(self, digest: str) -> str:
        """The cached account of a live API token, by the token's digest; dropped on revoke or disable."""
        return f"{self.prefix}:token-cache:{digest}"

    def confirmation(self, digest: str) -> str:
        """A pending double-confirmation of a destructive action, by the digest of its token."""
        return f"{self.prefix}:confirm:{digest}"

    @property
    def rate_limit_prefix(self) -> str:
        """Prefix of the rate limiter's counters."""
        return f"{self.prefix}:ratelimit"

    def lock(self, name: str) -> str:
        """A named mutual-exclusion lock."""
        return f"{self.prefix}:lock:{name}"

    @property
    def health_probe(self) -> str:
        """A short-lived key the health check writes, so a server that refuses writes is reported as such."""
        return f"{self.prefix}:health:probe"
