"""Optional OpenTelemetry tracing, off by default.

When on, every request gets a server span and every Nylas call a client span whose context is
sent to Nylas in the `traceparent` header. Spans carry methods, URLs and statuses, never request
bodies, so no credential reaches a trace. The exporter is OTLP over HTTP, configured by the
standard `OTEL_EXPORTER_OTLP_*` environment variables.
"""

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

SERVICE_NAME = "grant-broker"


def create_tracer_provider(exporter: SpanExporter | None = None) -> TracerProvider:
    """Return a provider exporting to `exporter`, or to OTLP over HTTP when none is given."""
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    # /metrics and the probes are polled constantly and would drown the useful spans.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="livez,readyz,metrics"
    )


def instrument_client(client: httpx.AsyncClient, provider: TracerProvider) -> None:
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)
