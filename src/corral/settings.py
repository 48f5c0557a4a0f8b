"""Corral's one settings object; built by entry points and passed in, never read at import time."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "corral-development-secret-change-me"
MIN_METRICS_TOKEN_LENGTH = 32


class Settings(BaseSettings):
    """Every tunable of a Corral process, from `CORRAL_*` environment variables or arguments."""

    model_config = SettingsConfigDict(env_prefix="CORRAL_", extra="forbid", validate_default=True)

    mode: Literal["development", "production"] = "development"
    app: str = Field(
        default="corral_reference:app",
        description="the application every command serves, module:attribute (the reference catalogue by default)",
    )
    redis_url: str = Field(default="", description="Redis/Valkey URL; empty starts an embedded Valkey")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means a SQLite file in data_dir")
    key_prefix: str = Field(default="corral", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    data_dir: Path = Path(".corral")
    release: str = Field(
        default="",
        max_length=64,
        pattern=r"^([A-Za-z0-9][A-Za-z0-9._+-]*)?$",
        description="the release this process runs (a version or commit); tags its failures and DLQ entries",
    )
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    shutdown_grace_seconds: float = Field(default=30.0, gt=0, le=3600)
    dlq_sweep_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    dlq_max_age_hours: int = Field(default=30 * 24, ge=1, le=87_600, description="system.cleanup drops older entries")
    dlq_max_entries: int = Field(default=2_000_000, ge=1, description="system.cleanup drops the oldest beyond this")
    maintenance_interval_seconds: float = Field(
        default=3_600.0, gt=0, le=86_400, description="how often (across all workers) the platform trims old data"
    )
    event_retention_hours: int = Field(default=168, ge=1, le=87_600, description="queue event streams kept this long")
    audit_retention_days: int = Field(default=365, ge=1, le=36_500, description="audit rows kept this long")
    retention_warning_hours: int = Field(
        default=24, ge=1, le=8_760, description="warn about DLQ entries, failed jobs and audit rows trimmed this soon"
    )
    dlq_bulk_rate: int = Field(default=500, ge=1, le=100_000, description="jobs per second of a bulk DLQ task")
    dlq_replay_brake_threshold: int = Field(
        default=20, ge=0, le=1_000_000, description="a bulk replay pauses when more of its jobs die again (0: off)"
    )
    dlq_replay_brake_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="the window in which a bulk replay counts jobs that died again"
    )
    dlq_replay_slow_start_percent: int = Field(
        default=100,
        ge=1,
        le=100,
        description="a bulk replay starts at this percent of its rate, doubling each brake window without a death",
    )
    lock_duration_ms: int = Field(default=30_000, ge=1_000, le=3_600_000)
    stalled_interval_ms: int = Field(
        default=5_000,
        ge=500,
        le=3_600_000,
        description="how often a worker looks for stalled jobs (one script call across all workers of a queue)",
    )
    worker_processes: int = Field(default=1, ge=0, le=64, description="worker processes `corral up` starts")
    api_processes: int = Field(default=1, ge=1, le=64, description="API processes `corral up` serves on its port")
    worker_event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="the event loop of worker processes: uvloop where it is installed (auto), or the standard one",
    )
    redis_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="how long a connection attempt to Redis/Valkey may take"
    )
    redis_probe_timeout_seconds: float = Field(
        default=1.0, gt=0, le=60, description="API: Redis must answer its probe this fast, else requests get 503"
    )

    # Accounts, sessions and limits
    owner_email: str = Field(default="owner@example.com", description="email of the owner `corral up` creates first")
    owner_password: SecretStr = Field(default=SecretStr(""), description="first owner's password; else one is printed")
    session_ttl_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 86_400)
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    role_grants: dict[str, list[str]] = Field(default_factory=dict, description="extra permissions per role")
    rate_limit_reads: str = "600/minute"
    rate_limit_mutations: str = "120/minute"
    rate_limit_exports: str = "10/minute"
    rate_limit_login_ip: str = "20/minute"
    rate_limit_login_account: str = "5/minute"
    rate_limit_metrics: str = Field(default="60/minute", description="requests to /metrics per address")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or networks of proxies whose X-Forwarded-For/-Proto are believed"
    )
    max_body_bytes: int = Field(
        default=2_097_152, ge=1_024, le=1_073_741_824, description="largest request body read, before authentication"
    )

    # Outbound HTTP of the platform (alert webhooks) and of applications (their webhooks).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # Monitoring: metrics recording, caches, worker heartbeats, health thresholds, alerts, Prometheus.
    metrics_flush_seconds: float = Field(default=1.0, gt=0, le=60, description="how often workers write metrics")
    metrics_rolling_points: int = Field(default=15, ge=1, le=720, description="rolling average window, in points")
    stats_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    metrics_cache_seconds: float = Field(default=10.0, ge=0, le=3600)
    health_cache_seconds: float = Field(default=60.0, ge=0, le=3600)
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0, le=60)
    worker_lost_seconds: float = Field(default=20.0, gt=0, le=3600, description="no heartbeat this long: lost")
    health_window_minutes: int = Field(default=15, ge=1, le=1440, description="recent window of the health rules")
    health_backlog_warning: int = Field(default=1_000, ge=1)
    health_backlog_critical: int = Field(default=10_000, ge=1)
    health_backlog_age_warning_seconds: float = Field(default=300.0, gt=0)
    health_backlog_age_critical_seconds: float = Field(default=1_800.0, gt=0)
    health_error_rate_warning: float = Field(default=0.10, gt=0, le=1)
    health_error_rate_critical: float = Field(default=0.50, gt=0, le=1)
    health_error_rate_min_jobs: int = Field(default=20, ge=1, description="fewer finished attempts: no judgement")
    health_dlq_growth_warning: int = Field(default=10, ge=1, description="dead-lettered jobs per hour")
    health_dlq_growth_critical: int = Field(default=100, ge=1)
    health_stalled_warning: int = Field(default=1, ge=1, description="stalled jobs in the window")
    health_stalled_critical: int = Field(default=10, ge=1)
    health_drift_warning: float = Field(default=2.0, gt=1, description="recent / baseline average processing time")
    health_drift_critical: float = Field(default=4.0, gt=1)
    health_drift_min_jobs: int = Field(default=20, ge=1, description="samples needed in the window and baseline")
    alert_interval_seconds: float = Field(default=10.0, gt=0, le=3600, description="alert evaluation period")
    alert_cooldown_seconds: float = Field(default=300.0, ge=0, le=86_400, description="quiet time after a resolve")
    alert_min_severity: Literal["warning", "critical"] = "warning"
    alert_webhook_url: str = Field(default="", description="POST alert transitions here, signed with HMAC-SHA256")
    alert_webhook_secret: SecretStr = SecretStr("")
    alert_history_size: int = Field(default=10_000, ge=10, le=1_000_000)
    metrics_token: SecretStr = Field(default=SecretStr(""), description="Bearer token of /metrics; empty: disabled")

    # Realtime: the WebSocket gateway at /owner/realtime and the events workers publish.
    realtime_client_queue: int = Field(default=2_000, ge=10, le=100_000, description="events buffered per client")
    realtime_max_clients: int = Field(default=1_000, ge=1, le=100_000, description="WebSockets per API process")
    realtime_heartbeat_seconds: float = Field(default=15.0, gt=0, le=3600)
    realtime_idle_timeout_seconds: float = Field(default=60.0, gt=0, le=86_400, description="no client message: close")
    realtime_latest_per_room: int = Field(default=100, ge=1, le=10_000, description="events kept per room for 60 s")
    realtime_progress_interval_ms: int = Field(default=250, ge=0, le=60_000, description="progress coalescing window")
    realtime_auth_failures: str = Field(
        default="30/minute", description="failed WebSocket authentications per address before refusing at handshake"
    )
    realtime_pending_per_address: int = Field(
        default=256, ge=1, le=100_000, description="WebSocket handshakes of one address being authenticated at once"
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Resolved once, here: the embedded server runs with the data directory as its working directory, and
        # worker processes may start elsewhere, so a relative path would name different places in each.
        return value.expanduser().resolve()

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return [entry.strip() for entry in value]

    @field_validator("metrics_token", mode="after")
    @classmethod
    def _long_metrics_token(cls, value: SecretStr) -> SecretStr:
        token = value.get_secret_value()
        if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(f"at least {MIN_METRICS_TOKEN_LENGTH} characters (or empty to disable /metrics)")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.mode != "development":
            secret = self.secret_key.get_secret_value()
            if secret == DEVELOPMENT_SECRET or len(secret) < 32:
                raise ValueError(
                    "secret_key: set CORRAL_SECRET_KEY to a random value of at least 32 characters "
                    "outside development mode"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The SQL store URL: the configured one, or a SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'corral.db').resolve()}"

    @property
    def valkey_dir(self) -> Path:
        """Where the embedded Valkey keeps its append-only files."""
        return self.data_dir / "valkey"
