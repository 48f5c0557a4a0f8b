"""Corral: typed job contracts, BullMQ workers, a dead-letter queue and an owner console."""

__version__ = "0.1.0"
