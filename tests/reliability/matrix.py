"""The Nylas fault matrix: every call site under every fault, and the outcome each must have.

`docs/reliability.md` shows the same table; `test_matrix_documented` keeps the two equal.

Faults apply to every call of the operation until cleared. Timeouts and backoffs are those of
`QUICK_FAILURE` in the conftest: a 0.5 s read timeout, two attempts, a 2 s budget.
"""

from dataclasses import dataclass
from typing import Any

HTML_502 = "<html><body><h1>502 Bad Gateway</h1></body></html>"

# Keyword arguments of `NylasSimulator.inject_fault`, without `operation` and `times`.
FAULTS: dict[str, dict[str, Any]] = {
    "5xx": {"status": 500},
    "5xx_html": {"status": 502, "body": HTML_502, "content_type": "text/html"},
    "2xx_not_json": {"status": 200, "body": "OK", "content_type": "text/plain"},
    "429_retry_after": {"status": 429, "headers": {"Retry-After": "30"}},
    "429_no_retry_after": {"status": 429},
    # Longer than the read timeout. The operation takes effect and only its response is late.
    "timeout": {"latency": 1.5},
    "reset": {"reset": True},
    # Shorter than the read timeout.
    "slow": {"latency": 0.1},
}

SITES = ("register", "offboard", "replace", "live_check", "sweep")


@dataclass(frozen=True)
class Outcome:
    """What a caller and the two stores show after one call under one fault.

    `status` is the HTTP status the caller gets, or `failed`/`completed` for a sweep. `record`
    is the broker's record of the user; `nylas` the grant at Nylas.
    """

    status: str
    record: str
    nylas: str


def _outcomes(rows: dict[str, tuple[str, str, str]]) -> dict[str, Outcome]:
    return {fault: Outcome(*row) for fault, row in rows.items()}


EXPECTED: dict[str, dict[str, Outcome]] = {
    # POST /v1/grants for a new user: POST /v3/connect/custom.
    "register": _outcomes(
        {
            "5xx": ("502", "none", "no grant"),
            "5xx_html": ("502", "none", "no grant"),
            "2xx_not_json": ("502", "none", "no grant"),
            "429_retry_after": ("503", "none", "no grant"),
            "429_no_retry_after": ("503", "none", "no grant"),
            "timeout": ("504", "none", "orphan"),
            "reset": ("503", "none", "no grant"),
            "slow": ("201", "bound", "bound"),
        }
    ),
    # DELETE /v1/users/{user_id}/grant: DELETE /v3/grants/{grant_id}.
    "offboard": _outcomes(
        {
            "5xx": ("502", "kept", "kept"),
            "5xx_html": ("502", "kept", "kept"),
            "2xx_not_json": ("204", "deleted", "kept"),
            "429_retry_after": ("503", "kept", "kept"),
            "429_no_retry_after": ("503", "kept", "kept"),
            "timeout": ("504", "kept", "deleted"),
            "reset": ("503", "kept", "kept"),
            "slow": ("204", "deleted", "deleted"),
        }
    ),
    # POST /v1/grants with another mailbox: the replaced grant's DELETE /v3/grants/{grant_id}.
    "replace": _outcomes(
        {
            "5xx": ("200", "replaced", "old kept"),
            "5xx_html": ("200", "replaced", "old kept"),
            "2xx_not_json": ("200", "replaced", "old kept"),
            "429_retry_after": ("200", "replaced", "old kept"),
            "429_no_retry_after": ("200", "replaced", "old kept"),
            "timeout": ("200", "replaced", "old deleted"),
            "reset": ("200", "replaced", "old kept"),
            "slow": ("200", "replaced", "old deleted"),
        }
    ),
    # GET /v1/users/{user_id}/grant/status?max_age=0: GET /v3/grants/{grant_id}.
    "live_check": _outcomes(
        {
            "5xx": ("502", "unchanged", "unchanged"),
            "5xx_html": ("502", "unchanged", "unchanged"),
            "2xx_not_json": ("502", "unchanged", "unchanged"),
            "429_retry_after": ("503", "unchanged", "unchanged"),
            "429_no_retry_after": ("503", "unchanged", "unchanged"),
            "timeout": ("504", "unchanged", "unchanged"),
            "reset": ("503", "unchanged", "unchanged"),
            "slow": ("200", "checked", "unchanged"),
        }
    ),
    # A full status sweep of a grant that Nylas has invalidated: GET /v3/grants.
    "sweep": _outcomes(
        {
            "5xx": ("failed", "unchanged", "unchanged"),
            "5xx_html": ("failed", "unchanged", "unchanged"),
            "2xx_not_json": ("failed", "unchanged", "unchanged"),
            "429_retry_after": ("failed", "unchanged", "unchanged"),
            "429_no_retry_after": ("failed", "unchanged", "unchanged"),
            "timeout": ("failed", "unchanged", "unchanged"),
            "reset": ("failed", "unchanged", "unchanged"),
            "slow": ("completed", "invalidated", "unchanged"),
        }
    ),
}

# The simulator operation each call site uses.
OPERATION = {
    "register": "connect_custom",
    "offboard": "delete_grant",
    "replace": "delete_grant",
    "live_check": "get_grant",
    "sweep": "list_grants",
}
