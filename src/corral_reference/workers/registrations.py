"""Every catalogue worker module's `register` function, in one explicit list."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corral.handlers import HandlerSet
    from corral.worker_services import WorkerServices

Register = Callable[["HandlerSet", "WorkerServices"], None]


def all_registrations() -> list[Register]:
    """The register functions of the worker modules, imported on demand."""
    # One import and one list entry per worker module.
    from corral_reference.workers import (
        ai_content,
        ai_seo,
        analytics_process,
        article_autosave,
        article_publish,
        email_send,
        otp_send,
        plugin_execute,
        search_index,
        system_maintenance,
        workflow,
    )

    return [
        ai_content.register,
        ai_seo.register,
        search_index.register,
        analytics_process.register,
        article_autosave.register,
        article_publish.register,
        system_maintenance.register,
        email_send.register,
        otp_send.register,
        plugin_execute.register,
        workflow.register,
    ]
