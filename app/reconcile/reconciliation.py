"""One reconciliation run: open the database and the Nylas client, compare, fix, report."""

from dataclasses import dataclass

import httpx

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.nylas.factory import open_nylas_client
from app.reconcile.apply import apply_fixes, delete_orphans
from app.reconcile.compare import ReconcileConfig, Reconciler
from app.reconcile.findings import ReconcileReport


@dataclass(frozen=True)
class ReconcileOptions:
    apply: bool = False
    delete_orphans: bool = False
    requests_per_second: float = 20.0
    min_orphan_age: float = 300.0


async def run_reconcile(
    settings: Settings,
    options: ReconcileOptions,
    *,
    nylas_transport: httpx.AsyncBaseTransport | None = None,
) -> ReconcileReport:
    """Compare the database of `settings` with Nylas and apply what `options` ask for.

    `nylas_transport` replaces the network, e.g. with the Nylas simulator. Raises `NylasError`
    when the listing or a lookup fails after the client's retries.
    """
    config = ReconcileConfig(
        requests_per_second=options.requests_per_second,
        listing_lag=settings.sweep_listing_lag,
        min_orphan_age=options.min_orphan_age,
    )
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    try:
        sessionmaker = create_sessionmaker(engine)
        async with open_nylas_client(settings, transport=nylas_transport) as nylas:
            reconciler = Reconciler(sessionmaker, nylas, config)
            report = await reconciler.compare()
            if options.apply:
                await apply_fixes(report, sessionmaker)
            if options.delete_orphans:
                await delete_orphans(report, sessionmaker, reconciler)
    finally:
        await engine.dispose()
    return report
