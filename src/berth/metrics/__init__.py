"""Prometheus metrics: hot-path request counters and the exporter that serves them with the stored state."""
