"""Findings of a reconciliation, and its report as a table or as JSON."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class FindingKind(StrEnum):
    ORPHAN = "orphan"  # a grant at Nylas that no user holds
    DANGLING = "dangling"  # a record whose grant no longer exists at Nylas
    STATUS_MISMATCH = "status_mismatch"  # the record's status differs from Nylas's


@dataclass
class Finding:
    """One difference between the database and Nylas, and what was done about it.

    `nylas_touched_at` is the later of the grant's `created_at` and `updated_at` at Nylas
    (Unix seconds). `observed_at` dates the Nylas status for `StatusService`. `action`
    describes what `--apply` or `--delete-orphans` did, and `resolved` tells whether the
    difference is gone.
    """

    kind: FindingKind
    grant_id: str
    user_id: str | None = None
    provider: str | None = None
    email: str | None = None
    stored_status: str | None = None
    nylas_status: str | None = None
    nylas_touched_at: int | None = None
    note: str | None = None
    action: str | None = None
    resolved: bool = False
    observed_at: datetime | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "grant_id": self.grant_id,
            "user_id": self.user_id,
            "provider": self.provider,
            "email": self.email,
            "stored_status": self.stored_status,
            "nylas_status": self.nylas_status,
            "nylas_touched_at": self.nylas_touched_at,
            "note": self.note,
            "action": self.action,
            "resolved": self.resolved,
        }


@dataclass
class ReconcileReport:
    """Figures and findings of one reconciliation. `duration` is in seconds."""

    started_at: datetime
    duration: float = 0.0
    # Distinct grants in Nylas's listing, and records in the database.
    nylas_grants: int = 0
    records: int = 0
    nylas_calls: int = 0
    findings: list[Finding] = field(default_factory=list)
    applied: bool = False
    orphans_deleted: bool = False
    # Records missing from the listing that were not looked up, because so many were missing
    # that the API key most likely belongs to another Nylas application.
    unconfirmed_missing: int = 0
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(finding.kind for finding in self.findings)
        return {str(kind): found[kind] for kind in FindingKind}

    @property
    def exit_status(self) -> int:
        """0 when the database and Nylas agree (after any fixes), else 1."""
        unresolved = any(not finding.resolved for finding in self.findings)
        return 1 if unresolved or self.unconfirmed_missing else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "duration_seconds": round(self.duration, 3),
            "nylas_grants": self.nylas_grants,
            "records": self.records,
            "nylas_calls": self.nylas_calls,
            "applied": self.applied,
            "orphans_deleted": self.orphans_deleted,
            "counts": self.counts(),
            "unconfirmed_missing": self.unconfirmed_missing,
            "warnings": self.warnings,
            "findings": [finding.to_json() for finding in self.findings],
        }


_TABLE_COLUMNS = (
    ("KIND", "kind"),
    ("GRANT ID", "grant_id"),
    ("USER ID", "user_id"),
    ("PROVIDER", "provider"),
    ("STORED", "stored_status"),
    ("NYLAS", "nylas_status"),
    ("ACTION", "action"),
)


def render_table(report: ReconcileReport) -> str:
    """Return the report as text: a summary, then one table row per finding."""
    counts = report.counts()
    lines = [
        f"reconcile: {report.nylas_grants:,} grants at Nylas, {report.records:,} records, "
        f"{report.nylas_calls:,} Nylas calls in {report.duration:.1f}s",
        f"orphans {counts[FindingKind.ORPHAN]:,}, dangling records "
        f"{counts[FindingKind.DANGLING]:,}, status mismatches "
        f"{counts[FindingKind.STATUS_MISMATCH]:,}",
    ]
    lines.extend(f"warning: {warning}" for warning in report.warnings)
    if report.findings:
        lines.append("")
        lines.extend(_table_rows(report.findings))
    return "\n".join(lines)


def _table_rows(findings: list[Finding]) -> list[str]:
    rows = [[title for title, _ in _TABLE_COLUMNS]]
    rows.extend([_cell(finding, name) for _, name in _TABLE_COLUMNS] for finding in findings)
    widths = [max(len(row[column]) for row in rows) for column in range(len(_TABLE_COLUMNS))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _cell(finding: Finding, name: str) -> str:
    if name == "action":
        action = finding.action or "reported"
        return f"{action} ({finding.note})" if finding.note else action
    value = getattr(finding, name)
    return "-" if value is None else str(value)
