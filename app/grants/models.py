"""Tables of the grants domain. No column contains a secret: tokens and passwords are never kept."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, String
from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime, utc_now


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    YAHOO = "yahoo"
    ZOOM = "zoom"
    IMAP = "imap"
    ICLOUD = "icloud"
    EWS = "ews"


class GrantStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"


class StatusSource(StrEnum):
    """The source that last established a grant's status."""

    REGISTRATION = "registration"
    SWEEP = "sweep"
    WEBHOOK = "webhook"
    LIVE_CHECK = "live_check"
    # `grant-broker reconcile --apply`: a full comparison with Nylas started by an operator.
    RECONCILE = "reconcile"


class GrantBase(SQLModel):
    user_id: str = Field(max_length=255)
    grant_id: str = Field(max_length=255)
    provider: Provider = Field(sa_type=String(32))
    email: str | None = Field(default=None, max_length=320)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grant_status: GrantStatus = Field(sa_type=String(16))
    status_source: StatusSource = Field(default=StatusSource.REGISTRATION, sa_type=String(16))
    status_checked_at: datetime = Field(sa_type=UTCDateTime)
    status_changed_at: datetime = Field(sa_type=UTCDateTime)


class Grant(GrantBase, table=True):
    """The grant a user holds: one per user, and a grant id belongs to at most one user."""

    __tablename__ = "grants"
    # Listing filters by status or provider and pages by user id.
    __table_args__ = (
        Index("ix_grants_grant_status", "grant_status", "user_id"),
        Index("ix_grants_provider", "provider", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=255, unique=True)
    grant_id: str = Field(max_length=255, unique=True)
    # The principal of the service that registered the grant; null when identity is off.
    registered_by: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class IdempotencyState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyRecord(SQLModel, table=True):
    """A registration's idempotency key and the response it produced.

    `request_fingerprint` is a SHA-256 over the request's non-secret fields only, so nothing
    here can be used to recover or to test a guessed refresh token or password.
    """

    __tablename__ = "idempotency_keys"

    key: str = Field(primary_key=True, max_length=255)
    request_fingerprint: str = Field(max_length=64)
    state: IdempotencyState = Field(sa_type=String(16))
    response_status: int | None = Field(default=None, sa_type=Integer)
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
