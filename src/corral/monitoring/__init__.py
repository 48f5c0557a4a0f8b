"""Queue monitoring: metrics recorded from job events, stats, history, failure reasons, workers, health, alerts."""

from corral.monitoring.observer import observe_monitoring
from corral.monitoring.recorder import MetricsRecorder
from corral.monitoring.service import Monitoring

__all__ = ["MetricsRecorder", "Monitoring", "observe_monitoring"]
