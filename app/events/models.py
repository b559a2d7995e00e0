"""The grant event feed: every change to a grant, in commit order."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime, utc_now


class EventType(StrEnum):
    REGISTERED = "grant.registered"
    REAUTHENTICATED = "grant.reauthenticated"
    REPLACED = "grant.replaced"
    INVALIDATED = "grant.invalidated"
    REVALIDATED = "grant.revalidated"
    DELETED = "grant.deleted"


class GrantEventBase(SQLModel):
    type: EventType = Field(sa_type=String(32))
    user_id: str = Field(max_length=255)
    grant_id: str = Field(max_length=255)
    previous_grant_id: str | None = Field(
        default=None, max_length=255, description="The grant a `grant.replaced` event replaced."
    )
    provider: str = Field(max_length=32)
    old_status: str | None = Field(default=None, max_length=16)
    new_status: str | None = Field(default=None, max_length=16)
    source: str = Field(
        max_length=16,
        description="registration, sweep, webhook, live_check, reconcile, or offboarding",
    )
    actor: str | None = Field(
        default=None, max_length=512, description="The caller's principal, or null for the broker."
    )
    occurred_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)


class GrantEvent(GrantEventBase, table=True):
    __tablename__ = "grant_events"

    id: int | None = Field(default=None, primary_key=True)
