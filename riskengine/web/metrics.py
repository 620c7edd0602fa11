"""Prometheus metrics. Under gunicorn, `riskengine serve` sets PROMETHEUS_MULTIPROC_DIR before
any worker imports this module, so /metrics adds up every worker's numbers."""
from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("riskengine_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram("riskengine_http_request_seconds", "HTTP request latency", ["route"],
                    buckets=(.001, .0025, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1, 2.5))
DECISIONS = Counter("riskengine_decisions_total", "Decisions", ["event", "decision", "decided_by", "degraded"])
MODEL_INFO = Gauge("riskengine_model_info", "Model and policy in use (value 1)",
                   ["model_version", "policy_version"], multiprocess_mode="max")


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
