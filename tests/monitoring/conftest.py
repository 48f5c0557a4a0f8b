"""Fixtures of the monitoring tests."""

from monitoring.monitoring_peers import monitoring_for, monitoring_settings, start_worker

__all__ = ["monitoring_for", "monitoring_settings", "start_worker"]
