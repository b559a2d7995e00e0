"""/metrics: Prometheus text with bounded labels and no identifiers or secrets."""

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.main import create_app
from app.simulator import NylasSimulator
from app.status.scheduler import SweepScheduler
from tests.api.test_register import google
from tests.conftest import TEST_API_KEY


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_report_requests_grants_and_nylas(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    registered = await client.post("/v1/grants", json=google("u-77", "sim:m@example.com:canary"))
    await client.get("/v1/users/u-77/grant")
    await client.get("/v1/users/nobody/grant")
    await client.get("/no/such/route")

    response = await client.get("/metrics")

    assert response.status_code == 200
    samples = _samples(response.text)
    route = "/v1/users/{user_id}/grant"
    assert (
        samples[
            (
                "grant_broker_http_requests_total",
                (("method", "GET"), ("route", route), ("status", "200")),
            )
        ]
        == 1
    )
    assert (
        samples[
            (
                "grant_broker_http_requests_total",
                (("method", "GET"), ("route", route), ("status", "404")),
            )
        ]
        == 1
    )
    assert (
        samples[
            (
                "grant_broker_http_requests_total",
                (("method", "GET"), ("route", "unmatched"), ("status", "404")),
            )
        ]
        == 1
    )
    assert (
        samples[
            (
                "grant_broker_nylas_requests_total",
                (("operation", "connect_custom"), ("outcome", "success")),
            )
        ]
        == 1
    )
    assert samples[("grant_broker_grants", (("provider", "google"), ("status", "valid")))] == 1
    assert (
        samples[
            ("grant_broker_secret_version_info", (("secret", "nylas_api_key"), ("version", "env")))
        ]
        == 1
    )
    for hidden in ("u-77", "nobody", registered.json()["grant_id"], "canary", TEST_API_KEY):
        assert hidden not in response.text


async def test_metrics_count_nylas_retries(
    client: httpx.AsyncClient, simulator: NylasSimulator
) -> None:
    simulator.inject_fault(operation="connect_custom", status=502, body="bad gateway", times=1)
    await client.post("/v1/grants", json=google("u-1", "sim:r@example.com:1"))

    samples = _samples((await client.get("/metrics")).text)

    assert samples[("grant_broker_nylas_retries_total", (("operation", "connect_custom"),))] == 1
    assert (
        samples[
            (
                "grant_broker_nylas_requests_total",
                (("operation", "connect_custom"), ("outcome", "unavailable")),
            )
        ]
        == 1
    )


async def test_metrics_report_sweeps(settings: Settings, simulator: NylasSimulator) -> None:
    # No listing lag, so the sweep reads the expiry that happens right after registering.
    immediate = settings.model_copy(update={"sweep_listing_lag": 0.0})
    app = create_app(immediate, nylas_transport=simulator.transport())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as client:
            registered = await client.post("/v1/grants", json=google("u-s", "sim:s@example.com:1"))
            simulator.expire_grant(registered.json()["grant_id"])
            # Driven by hand instead of by the background loop, so the test controls the timing.
            scheduler = SweepScheduler(
                immediate,
                sessionmaker=app.state.sessionmaker,
                nylas=app.state.nylas,
                guard=app.state.mass_invalidation_guard,
            )
            app.state.sweep_scheduler = scheduler
            await asyncio.sleep(0.01)
            await scheduler.run_due_jobs()
            samples = _samples((await client.get("/metrics")).text)

    assert ("grant_broker_sweep_duration_seconds", (("kind", "invalid"),)) in samples
    assert ("grant_broker_sweep_last_success_timestamp_seconds", (("kind", "full"),)) in samples
    changes = {
        key: value for key, value in samples.items() if key[0] == "grant_broker_sweep_changes_total"
    }
    assert sum(changes.values()) == 1
