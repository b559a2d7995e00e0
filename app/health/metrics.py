"""The /metrics endpoint and the metrics read from components at scrape time."""

import time
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from sqlalchemy import func
from sqlmodel import select

from app.core.metrics import Metrics, counter_family, gauge_family
from app.grants.models import Grant
from app.secrets import RotatingSecret

router = APIRouter(tags=["health"])

# Grant counts come from a GROUP BY over the whole table. Scrapes closer together than this
# reuse the previous counts, so a busy scraper cannot load the database.
GRANT_COUNT_MAX_AGE_SECONDS = 30.0


async def _refresh_grant_counts(app: FastAPI) -> None:
    metrics: Metrics = app.state.metrics
    last = getattr(app.state, "grant_counts_at", None)
    if last is not None and time.monotonic() - last < GRANT_COUNT_MAX_AGE_SECONDS:
        return
    statement = select(Grant.provider, Grant.grant_status, func.count()).group_by(
        Grant.provider, Grant.grant_status
    )
    async with app.state.sessionmaker() as session:
        rows = (await session.exec(statement)).all()
    metrics.set_grant_counts((str(p), str(s), int(n)) for p, s, n in rows)
    app.state.grant_counts_at = time.monotonic()


@router.get(
    "/metrics",
    operation_id="metrics",
    summary="Metrics in the Prometheus text format",
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    await _refresh_grant_counts(request.app)
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _secrets(app: FastAPI) -> dict[str, RotatingSecret]:
    secrets: dict[str, RotatingSecret] = {"nylas_api_key": app.state.nylas_api_key}
    webhook = app.state.webhook_secrets
    if webhook is not None:
        secrets["nylas_webhook_secret"] = webhook.secret
    return secrets


def _secret_refreshes(secrets: dict[str, RotatingSecret]) -> Metric:
    family = CounterMetricFamily(
        "grant_broker_secret_refreshes",
        "Secret reads since start, by secret and outcome (success, failure).",
        labels=["secret", "outcome"],
    )
    for name, secret in secrets.items():
        family.add_metric([name, "success"], secret.refresh_successes)
        family.add_metric([name, "failure"], secret.refresh_failures)
    return family


def collect_component_metrics(app: FastAPI) -> Iterable[Metric]:
    """Report what the secrets, webhook and status components count, read at scrape time."""
    if not hasattr(app.state, "nylas_api_key"):
        return  # scraped before the lifespan started
    secrets = _secrets(app)
    yield _secret_refreshes(secrets)
    yield gauge_family(
        "grant_broker_secret_age_seconds",
        "Seconds since the secret in use was last read successfully.",
        ["secret"],
        ((name, secret.age) for name, secret in secrets.items()),
    )
    yield gauge_family(
        "grant_broker_secret_version_info",
        "The secret version in use, as a label; the value is always 1.",
        ["secret", "version"],
        ((name, secret.version, 1) for name, secret in secrets.items()),
    )
    yield counter_family(
        "grant_broker_webhook_deliveries",
        "Webhook deliveries since start, by result.",
        "result",
        app.state.webhook_stats.as_dict(),
    )
    yield gauge_family(
        "grant_broker_mass_invalidation_detected_timestamp_seconds",
        "When a mass invalidation of the provider's grants was last detected (Unix time).",
        ["provider"],
        (
            (provider, detection.detected_at.timestamp())
            for provider, detection in app.state.mass_invalidation_guard.detections.items()
        ),
    )


def collect_sweep_metrics(app: FastAPI) -> Iterable[Metric]:
    """Report the last completed sweep of each kind in this process, and changes made."""
    scheduler = getattr(app.state, "sweep_scheduler", None)
    if scheduler is None:
        return
    results = scheduler.last_results.values()
    yield gauge_family(
        "grant_broker_sweep_duration_seconds",
        "Duration of the last completed sweep run by this replica, by kind.",
        ["kind"],
        ((str(r.kind), r.duration) for r in results),
    )
    yield gauge_family(
        "grant_broker_sweep_last_success_timestamp_seconds",
        "When the last completed sweep run by this replica ended (Unix time), by kind.",
        ["kind"],
        ((str(r.kind), r.started_at.timestamp() + r.duration) for r in results),
    )
    yield gauge_family(
        "grant_broker_sweep_unknown_grants",
        "Grants at Nylas that no user holds, as the last full sweep counted them.",
        ["kind"],
        ((str(r.kind), r.unknown_at_nylas) for r in results),
    )
    changes = CounterMetricFamily(
        "grant_broker_sweep_changes",
        "Grant changes made by sweeps since start, by kind and event type.",
        labels=["kind", "change"],
    )
    for (kind, change), count in scheduler.changes_total.items():
        changes.add_metric([kind, change], count)
    yield changes
