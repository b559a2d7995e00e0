"""Optional tracing: spans for requests and Nylas calls, traceparent sent to Nylas."""

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core.config import Settings
from app.core.tracing import create_tracer_provider
from app.main import create_app
from app.simulator import NylasSimulator
from tests.api.test_register import google

CANARY = "canary-trace-4d2e"


class HeaderRecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the simulator and keeps the headers each one carried."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return await self.inner.handle_async_request(request)


def _attributes_text(spans: tuple[ReadableSpan, ...]) -> str:
    return " ".join(f"{span.name} {dict(span.attributes or {})} {span.events}" for span in spans)


async def test_tracing_propagates_to_nylas(settings: Settings, simulator: NylasSimulator) -> None:
    exporter = InMemorySpanExporter()
    provider = create_tracer_provider(exporter)
    transport = HeaderRecordingTransport(simulator.transport())
    traced = settings.model_copy(update={"tracing_enabled": True})
    app = create_app(traced, nylas_transport=transport, tracer_provider=provider)

    async with app.router.lifespan_context(app):
        asgi = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=asgi, base_url="http://broker.test") as client:
            body = google("u-t", f"sim:t@example.com:{CANARY}")
            response = await client.post("/v1/grants", json=body)
    provider.force_flush()

    assert response.status_code == 201
    traceparent = transport.headers[0]["traceparent"]
    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.kind.name == "SERVER")
    client_span = next(s for s in spans if s.kind.name == "CLIENT")
    assert server.context.trace_id == client_span.context.trace_id
    assert f"{client_span.context.trace_id:032x}" in traceparent
    assert CANARY not in _attributes_text(spans)


async def test_tracing_off_sends_no_traceparent(
    settings: Settings, simulator: NylasSimulator
) -> None:
    transport = HeaderRecordingTransport(simulator.transport())
    app = create_app(settings, nylas_transport=transport)

    async with app.router.lifespan_context(app):
        asgi = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=asgi, base_url="http://broker.test") as client:
            await client.post("/v1/grants", json=google("u-t", "sim:t@example.com:1"))

    assert "traceparent" not in transport.headers[0]
