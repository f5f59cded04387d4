"""Prometheus metrics of the service: requests by outcome, latency, fallbacks, the version
served, hot swaps, dropped log rows. With several worker processes, prometheus_client's
multiprocess mode aggregates them (``PROMETHEUS_MULTIPROC_DIR``, set by ``reelflow serve``)."""

from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServiceMetrics:
    """The service's counters and histograms, in their own registry."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "reelflow_requests", "Requests by endpoint and outcome.", ["endpoint", "outcome"],
            registry=reg,
        )  # fmt: skip
        self.latency = Histogram(
            "reelflow_request_latency_seconds", "Time to answer a request, in the server.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=reg,
        )  # fmt: skip
        self.fallbacks = Counter(
            "reelflow_fallbacks", "Users answered by the fallback, by reason.", ["reason"],
            registry=reg,
        )  # fmt: skip
        self.version = Gauge(
            "reelflow_model_version", "The model version being served.", ["model"],
            registry=reg, multiprocess_mode="livemax",
        )  # fmt: skip
        self.swaps = Counter(
            "reelflow_swaps", "Hot swaps attempted, by result.", ["result"], registry=reg
        )
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.log_dropped = Counter(
            "reelflow_request_log_dropped", "Request-log rows dropped, by reason.", ["reason"],
            registry=reg,
        )  # fmt: skip

    def count_request(self, endpoint: str, outcome: str, seconds: float) -> None:
        """Count one answered request and its latency (labelled children are looked up once)."""
        key = (endpoint, outcome)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(endpoint, outcome), self.latency.labels(endpoint))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (all workers' values in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            collected: Any = CollectorRegistry()
            multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
            return generate_latest(collected), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
