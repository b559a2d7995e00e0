"""The CloudEvents-style envelope of a Nylas webhook delivery, and the grant object inside it.

Only the envelope `id`, `type` and `time` and, for grant notifications, `data.object.grant_id`
are required. Nylas sends the other fields in most deliveries but not in all of them, so they
are optional here and unknown fields are ignored.
"""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.webhooks.errors import InvalidDelivery

# `data.object.code` of a `grant.updated` notification caused by a re-authentication.
REAUTHENTICATION_CODE = 25027
# 9999-12-31T23:59:59Z, the last second a Python datetime can hold.
_MAX_UNIX_SECONDS = 253_402_300_799


class GrantTrigger(StrEnum):
    """Grant notification types that the broker applies. Other types are acknowledged only."""

    CREATED = "grant.created"
    UPDATED = "grant.updated"
    DELETED = "grant.deleted"
    EXPIRED = "grant.expired"


class EnvelopeData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    application_id: str | None = None
    object: dict[str, Any] = Field(default_factory=dict)


class WebhookEnvelope(BaseModel):
    """One notification. `id` stays the same across redeliveries, and `time` is Unix seconds."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # The lengths are those of the `webhook_deliveries` columns the id and type are stored in.
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=64)
    time: int = Field(ge=0, le=_MAX_UNIX_SECONDS)
    specversion: str | None = None
    source: str | None = None
    webhook_delivery_attempt: int | None = None
    data: EnvelopeData = Field(default_factory=EnvelopeData)

    @property
    def grant_id(self) -> str | None:
        """Return `data.object.grant_id` when it is a string, for log lines of any type."""
        grant_id = self.data.object.get("grant_id")
        return grant_id if isinstance(grant_id, str) else None

    @property
    def trigger(self) -> GrantTrigger | None:
        """Return the grant trigger of this notification, or None for any other type."""
        try:
            return GrantTrigger(self.type)
        except ValueError:
            return None


class GrantObject(BaseModel):
    """`data.object` of a grant notification. Every field except `grant_id` may be missing."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    grant_id: str = Field(min_length=1, max_length=255)
    code: int | None = None
    provider: str | None = None
    email: str | None = None
    reauthentication_flag: bool | None = None
    grant_updated_at: int | None = None
    integration_id: str | None = None

    @property
    def is_reauthentication(self) -> bool | None:
        """Whether a `grant.updated` came from a re-authentication, or None when the payload
        carries neither `reauthentication_flag` nor `code`."""
        if self.reauthentication_flag is not None:
            return self.reauthentication_flag or self.code == REAUTHENTICATION_CODE
        if self.code is not None:
            return self.code == REAUTHENTICATION_CODE
        return None


def parse_envelope(payload: bytes) -> WebhookEnvelope:
    """Parse the decoded body. Raises `InvalidDelivery` naming the invalid fields."""
    try:
        return WebhookEnvelope.model_validate_json(payload)
    except ValidationError as exc:
        raise InvalidDelivery(_describe(exc, prefix="")) from None


def parse_grant_object(envelope: WebhookEnvelope) -> GrantObject:
    """Parse `data.object` of a grant notification. Raises `InvalidDelivery`."""
    try:
        return GrantObject.model_validate(envelope.data.object)
    except ValidationError as exc:
        raise InvalidDelivery(_describe(exc, prefix="data.object.")) from None


def carries_only_grant_id(envelope: WebhookEnvelope) -> bool:
    """Return whether `data.object` has no field with a value besides `grant_id`."""
    present = {name for name, value in envelope.data.object.items() if value is not None}
    return present <= {"grant_id"}


def _describe(exc: ValidationError, *, prefix: str) -> str:
    # Field names and pydantic's messages only: the input values are not repeated.
    errors = exc.errors(include_input=False, include_context=False, include_url=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return "The body is not valid JSON."
    fields = sorted({prefix + ".".join(str(part) for part in error["loc"]) for error in errors})
    return f"The webhook envelope has invalid or missing fields: {', '.join(fields)}."
