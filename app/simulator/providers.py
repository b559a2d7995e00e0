"""Providers the simulator accepts on `POST /v3/connect/custom`, their settings and scopes."""

from dataclasses import dataclass

OAUTH_PROVIDERS = frozenset({"google", "microsoft", "yahoo", "zoom"})
PASSWORD_PROVIDERS = frozenset({"imap", "icloud", "ews"})
PROVIDERS = OAUTH_PROVIDERS | PASSWORD_PROVIDERS

# Nylas leaves `scope` out of IMAP and iCloud grants although its OpenAPI file marks it required.
PROVIDERS_WITHOUT_SCOPE = frozenset({"imap", "icloud"})

# Google rejects a refresh token without these scopes, and Nylas then returns 400
# "Invalid or revoked refresh token".
GOOGLE_REQUIRED_SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)

DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {
    "google": (*GOOGLE_REQUIRED_SCOPES, "https://www.googleapis.com/auth/gmail.modify"),
    "microsoft": ("Mail.Read", "User.Read", "offline_access"),
    "yahoo": ("email", "mail-r"),
    "zoom": ("meeting:write:meeting", "meeting:update:meeting", "meeting:delete:meeting"),
    "ews": ("ews.messages", "ews.calendars", "ews.contacts"),
    "imap": (),
    "icloud": (),
}

# Domains (RFC 2606 reserved names) of the mailboxes derived from unrecognised refresh tokens.
EXAMPLE_DOMAINS = {
    "google": "gmail.example.com",
    "microsoft": "outlook.example.com",
    "yahoo": "yahoo.example.com",
    "zoom": "zoom.example.com",
}

# Hosts, ports and `credential_id` are the only settings values that are not secrets.
PUBLIC_SETTING_NAMES = frozenset(
    {"imap_host", "imap_port", "smtp_host", "smtp_port", "ews_host", "ews_port", "credential_id"}
)


@dataclass(frozen=True)
class SettingField:
    """One field of a provider's `settings` object."""

    name: str
    kind: type[str] | type[int]
    required: bool

    @property
    def secret(self) -> bool:
        return self.name not in PUBLIC_SETTING_NAMES


def _required(name: str) -> SettingField:
    return SettingField(name, str, required=True)


def _optional(name: str, kind: type[str] | type[int] = str) -> SettingField:
    return SettingField(name, kind, required=False)


_OAUTH_FIELDS = (_required("refresh_token"), _optional("credential_id"))

SETTING_FIELDS: dict[str, tuple[SettingField, ...]] = {
    **dict.fromkeys(OAUTH_PROVIDERS, _OAUTH_FIELDS),
    "imap": (
        _required("imap_username"),
        _required("imap_password"),
        _optional("imap_host"),
        _optional("imap_port", int),
        _optional("smtp_host"),
        _optional("smtp_port", int),
        _optional("smtp_username"),
        _optional("smtp_password"),
    ),
    "icloud": (_required("username"), _required("password")),
    "ews": (
        _required("email"),
        _required("ews_username"),
        _required("ews_password"),
        _optional("ews_host"),
        _optional("ews_port", int),
    ),
}

# The settings field that identifies the credential: what the control API binds or revokes.
IDENTITY_FIELDS = {
    **dict.fromkeys(OAUTH_PROVIDERS, "refresh_token"),
    "imap": "imap_username",
    "icloud": "username",
    "ews": "ews_username",
}

PASSWORD_FIELDS = {"imap": "imap_password", "icloud": "password", "ews": "ews_password"}
