"""API models of the grants domain: registration requests and the stored record."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from app.grants.models import GrantBase

# User ids appear in URL paths and log lines, so they are limited to a safe character set.
USER_ID_PATTERN = r"^[A-Za-z0-9._:@+\-]{1,255}$"
# Nylas grant ids are UUIDs; any printable ASCII without spaces is accepted, nothing else.
GRANT_ID_PATTERN = r"^[\x21-\x7e]{1,255}$"


def reject_dot_segments(user_id: str) -> str:
    """Refuse "." and "..": URL normalisation turns /users/../grant into /grant."""
    if user_id in {".", ".."}:
        raise ValueError("must not be . or ..")
    return user_id


UserId = Annotated[
    str,
    Field(
        pattern=USER_ID_PATTERN,
        description=(
            "The caller's id for the user: 1 to 255 of A-Z a-z 0-9 . _ : @ + -, other than . and .."
        ),
        examples=["u-100"],
    ),
    # After the Field, so that the pattern stays in the JSON schema.
    AfterValidator(reject_dot_segments),
]


def reject_unpaired_surrogates(secret: SecretStr) -> SecretStr:
    """Reject text that cannot be encoded as UTF-8, such as a JSON escape "\\ud800" alone.

    Credentials go to Nylas as UTF-8 JSON, where such a value cannot be encoded: without this
    check the registration would fail with a server error instead of naming the field.
    """
    try:
        secret.get_secret_value().encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be Unicode text: it contains an unpaired surrogate") from None
    return secret


Secret = Annotated[
    SecretStr, Field(min_length=1, max_length=4096), AfterValidator(reject_unpaired_surrogates)
]
# A DNS name, an IPv4 address, or an IPv6 address in brackets.
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.\-:\[\]]+$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OAuthSettings(_Settings):
    """Settings for Google, Microsoft, Yahoo and Zoom: the provider's OAuth refresh token."""

    refresh_token: Secret
    credential_id: str | None = Field(
        default=None,
        max_length=255,
        pattern=GRANT_ID_PATTERN,
        description="Picks one of several provider apps configured on the Nylas connector.",
    )


class ImapSettings(_Settings):
    imap_username: Secret
    imap_password: Secret
    imap_host: Host | None = None
    imap_port: Port | None = None
    smtp_host: Host | None = None
    smtp_port: Port | None = None
    smtp_username: Secret | None = None
    smtp_password: Secret | None = None


class ICloudSettings(_Settings):
    username: Secret = Field(description="The iCloud address.")
    password: Secret = Field(description="An app-specific password.")


class EwsSettings(_Settings):
    email: Secret
    ews_username: Secret
    ews_password: Secret
    ews_host: Host | None = None
    ews_port: Port | None = None


class _Registration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId
    scope: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        default=None,
        max_length=100,
        description="Provider scopes to request; Nylas's default when absent.",
    )
    state: str | None = Field(default=None, max_length=1024, description="Echoed back by Nylas.")


class OAuthRegistration(_Registration):
    provider: Literal["google", "microsoft", "yahoo", "zoom"]
    settings: OAuthSettings


class ImapRegistration(_Registration):
    provider: Literal["imap"]
    settings: ImapSettings


class ICloudRegistration(_Registration):
    provider: Literal["icloud"]
    settings: ICloudSettings


class EwsRegistration(_Registration):
    provider: Literal["ews"]
    settings: EwsSettings


GrantRegistration = Annotated[
    OAuthRegistration | ImapRegistration | ICloudRegistration | EwsRegistration,
    Field(discriminator="provider"),
]


class GrantPublic(GrantBase):
    """The stored record of a user's grant. It never contains a credential."""

    registered_by: str | None = Field(
        default=None, description="Principal of the service that last registered the grant."
    )
    created_at: datetime
    updated_at: datetime


class GrantPage(BaseModel):
    items: list[GrantPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
