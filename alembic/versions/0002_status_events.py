"""Track grant status sources, add the event feed, sweep leases and webhook deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from app.core.database import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(
            sa.Column(
                "status_source", sa.String(length=16), nullable=False, server_default="registration"
            )
        )
        batch.add_column(sa.Column("status_changed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("registered_by", sa.String(length=512), nullable=True))
    op.execute("UPDATE grants SET status_changed_at = status_checked_at")
    with op.batch_alter_table("grants") as batch:
        batch.alter_column("status_changed_at", existing_type=UTCDateTime(), nullable=False)
        batch.alter_column("status_source", server_default=None)

    op.create_table(
        "grant_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("grant_id", sa.String(length=255), nullable=False),
        sa.Column("previous_grant_id", sa.String(length=255), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("old_status", sa.String(length=16), nullable=True),
        sa.Column("new_status", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=512), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_events")),
    )
    op.create_index("ix_grant_events_occurred_at", "grant_events", ["occurred_at"])

    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_received_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("leases")
    op.drop_index("ix_grant_events_occurred_at", table_name="grant_events")
    op.drop_table("grant_events")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("registered_by")
        batch.drop_column("status_changed_at")
        batch.drop_column("status_source")
