"""Request bodies for `POST /v3/connect/custom`, one builder per provider."""

from typing import Any

GOOGLE_REQUIRED_SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
]


def oauth(provider: str, refresh_token: str, **extra: Any) -> dict[str, Any]:
    return {"provider": provider, "settings": {"refresh_token": refresh_token}, **extra}


def google(refresh_token: str, **extra: Any) -> dict[str, Any]:
    return oauth("google", refresh_token, **extra)


def imap(username: str, password: str, **settings: Any) -> dict[str, Any]:
    return {
        "provider": "imap",
        "settings": {"imap_username": username, "imap_password": password, **settings},
    }


def icloud(username: str, password: str) -> dict[str, Any]:
    return {"provider": "icloud", "settings": {"username": username, "password": password}}


def ews(email: str, username: str, password: str, **settings: Any) -> dict[str, Any]:
    return {
        "provider": "ews",
        "settings": {
            "email": email,
            "ews_username": username,
            "ews_password": password,
            **settings,
        },
    }
