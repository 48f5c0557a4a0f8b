"""The reference application's settings: mail, AI, search, plugins and webhooks, from the same `CORRAL_*` variables.

`ReferenceSettings` extends the platform's `Settings`, so one object configures a process serving the reference app.
The platform hands its handlers a plain `Settings`; `ReferenceSettings.of` adds the reference app's fields to it.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from corral.settings import Settings


class ReferenceSettings(Settings):
    """The platform's settings plus the reference catalogue's adapters (mail, AI, search, plugins, webhooks)."""

    # Mail (email.send, email.otp): empty URL writes Maildir messages to <data_dir>/outbox;
    # smtp://user:pass@host:587 uses STARTTLS, smtps://... implicit TLS, smtp+plain://... neither (tests only).
    mail_url: SecretStr = SecretStr("")
    mail_from: str = "Corral <corral@localhost>"
    mail_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    otp_max_attempts: int = Field(default=5, ge=1, le=20)
    mail_render_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="a mail template's rendering is stopped past this"
    )

    # AI provider (ai.*): empty URL uses the local deterministic provider; else an OpenAI-compatible base URL.
    ai_url: str = ""
    ai_api_key: SecretStr = SecretStr("")
    ai_model: str = "gpt-4o-mini"
    ai_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    ai_max_retries: int = Field(default=3, ge=0, le=10)

    # Search (search.*): empty URL uses SQLite FTS5 in <data_dir>/search.db; a postgresql:// URL uses PostgreSQL.
    search_url: str = ""

    # Plugins and webhooks (plugin.*)
    plugin_memory_mb: int = Field(default=512, ge=16, le=65_536)
    webhook_allow_private: bool = Field(default=False, description="allow webhooks to loopback/private addresses")
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict, description="secretRef -> signing secret")

    @classmethod
    def of(cls, settings: Settings) -> ReferenceSettings:
        """`settings` itself when it is already a ReferenceSettings, else the same values plus the reference fields
        (read from the environment, as the platform's were)."""
        if isinstance(settings, cls):
            return settings
        return cls(**{name: getattr(settings, name) for name in type(settings).model_fields})
