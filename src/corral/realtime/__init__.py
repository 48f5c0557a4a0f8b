"""Realtime events: the envelope, the Redis event bus, the worker observer and the gateway's hub and sessions."""

from corral.realtime.bus import EventBus
from corral.realtime.coalesce import ProgressCoalescer
from corral.realtime.events import Channel, Event, EventDraft, EventType, Severity

__all__ = ["Channel", "Event", "EventBus", "EventDraft", "EventType", "ProgressCoalescer", "Severity"]
