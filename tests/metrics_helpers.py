"""Helpers for tests that read this process's Prometheus metrics."""

from prometheus_client import REGISTRY


def sample(name: str, **labels) -> float:
    """Return a metric sample of this process's registry (0 when it has none yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
