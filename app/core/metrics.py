"""Prometheus metrics, one registry per app, served at /metrics.

Label values are bounded and never identify a user, a grant or a secret: routes are labelled by
their template (`/v1/users/{user_id}/grant`), never by the path a caller sent.
"""

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Requests that matched no route share one label value, so scanners cannot grow the label set.
UNMATCHED_ROUTE = "unmatched"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The service's metrics. Components report through its methods, never through globals."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "grant_broker_http_requests_total",
            "HTTP requests handled, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "grant_broker_http_request_duration_seconds",
            "Time to handle an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.nylas_requests = Counter(
            "grant_broker_nylas_requests_total",
            "Requests sent to Nylas, one per attempt, by operation and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.nylas_duration = Histogram(
            "grant_broker_nylas_request_duration_seconds",
            "Time of one request to Nylas, by operation.",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.nylas_retries = Counter(
            "grant_broker_nylas_retries_total",
            "Retries of Nylas requests after a retryable failure, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.grants = Gauge(
            "grant_broker_grants",
            "Grants held, by provider and status, as of the last scrape.",
            ["provider", "status"],
            registry=self.registry,
        )

    # The Nylas client reports each attempt here (see app.nylas.calls.CallObserver).
    def observe_nylas_attempt(self, operation: str, outcome: str, seconds: float) -> None:
        self.nylas_requests.labels(operation, outcome).inc()
        self.nylas_duration.labels(operation).observe(seconds)

    def observe_nylas_retry(self, operation: str) -> None:
        self.nylas_retries.labels(operation).inc()

    def set_grant_counts(self, counts: Iterable[tuple[str, str, int]]) -> None:
        self.grants.clear()
        for provider, status, count in counts:
            self.grants.labels(provider, status).set(count)

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Register a function that reports metrics read from other components at scrape time."""
        self.registry.register(_FunctionCollector(collect))


class _FunctionCollector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def counter_family(name: str, documentation: str, label: str, values: dict[str, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in values.items():
        family.add_metric([value], count)
    return family


def gauge_family(name: str, documentation: str, labels: list[str], rows: Iterable[Any]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for *label_values, value in rows:
        family.add_metric([str(v) for v in label_values], value)
    return family


class MetricsMiddleware:
    """Count every HTTP request and its duration by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"]
            self.metrics.http_requests.labels(route, method, str(status)).inc()
            self.metrics.http_duration.labels(route, method).observe(time.perf_counter() - started)
