"""Webhook deliveries already applied, so a redelivery is acknowledged without effect."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime, utc_now


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"

    # The envelope `id`, which Nylas keeps across redeliveries of one notification.
    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
