"""Counters of webhook deliveries by outcome, kept in memory per process for metrics."""

from dataclasses import asdict, dataclass


@dataclass
class WebhookStats:
    """Totals since the process started. Each delivery attempt counts once in `received`."""

    received: int = 0
    # Verified deliveries of a grant the broker holds, recorded with any status change.
    applied: int = 0
    # Applied deliveries that changed a grant's status or removed the grant.
    changed: int = 0
    duplicates: int = 0
    # Grant notifications about a grant that no user holds.
    unknown_grants: int = 0
    # Notifications of another type, and `grant.updated` without a re-authentication.
    ignored: int = 0
    # Missing or invalid signature.
    rejected: int = 0
    # Bodies that were too large, not decodable or not a valid envelope.
    invalid: int = 0
    lookups: int = 0
    lookup_failures: int = 0
    # Deliveries rejected with 503 because the database failed while applying them.
    database_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
