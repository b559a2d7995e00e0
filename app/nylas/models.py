"""Nylas response objects, parsed leniently: unknown fields are ignored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NylasGrant(BaseModel):
    """A Nylas grant: the authorization that Nylas stores for one mailbox.

    Only `id` and `provider` are required. Nylas omits other fields in practice although its
    OpenAPI file marks them required: `scope` is missing for IMAP and iCloud grants, and
    `email` is missing from some documented examples.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    provider: str
    grant_status: Literal["valid", "invalid"] = "valid"
    email: str | None = None
    scope: list[str] = Field(default_factory=list)
    created_at: int | None = None
    updated_at: int | None = None
    state: str | None = None

    @field_validator("scope", mode="before")
    @classmethod
    def _null_scope_as_empty(cls, value: object) -> object:
        # An explicit null means the same as a missing key: the grant reports no scopes.
        return [] if value is None else value


class GrantPage(BaseModel):
    """One page of `GET /v3/grants`, which pages by offset and has no cursor."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data: list[NylasGrant]
    limit: int
    offset: int
    request_id: str | None = None


@dataclass(frozen=True)
class ConnectResult:
    """Outcome of `POST /v3/connect/custom`: the new or re-authenticated grant."""

    grant: NylasGrant
    request_id: str | None
