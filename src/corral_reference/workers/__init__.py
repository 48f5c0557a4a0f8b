"""The catalogue's eleven workers: handlers for the nineteen job types and the adapters behind them.

Each worker module exposes `register(handlers, services)`, which builds the adapters it needs from
`services.settings` and adds its handlers. `build_handlers` registers all of them.
"""

from __future__ import annotations

from corral.handlers import HandlerSet
from corral.worker_services import WorkerServices

__all__ = ["WorkerServices", "build_handlers", "register_all"]


def register_all(handlers: HandlerSet, services: WorkerServices) -> None:
    """Add the handler of every catalogue job type, with adapters chosen by the settings."""
    from corral_reference.workers.registrations import all_registrations

    for register in all_registrations():
        register(handlers, services)


def build_handlers(services: WorkerServices) -> HandlerSet:
    """Handlers for every catalogue job type, with adapters chosen by the settings."""
    handlers = HandlerSet()
    register_all(handlers, services)
    return handlers
