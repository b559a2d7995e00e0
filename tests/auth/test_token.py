"""Token mode: `Authorization: Bearer <token>`, tokens read from a file secret and rotated."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.auth import AuthConfigError, Authenticator, AuthMode, load_auth_config
from app.auth.tokens import CallerTokens, caller_tokens_secret
from app.secrets import RotatingSecret, SecretLoadError
from tests.auth.conftest import REQUEST_ID, AuthTestSettings, ClientFactory, callers_json, xfcc

PROBLEMS = "https://grant-broker.internal/problems/"
BILLING_TOKEN = "billing-token-0123456789abcdefghijkl"
MAINTENANCE_TOKEN = "maintenance-token-0123456789abcdefgh"
ROTATED_TOKEN = "billing-token-rotated-0123456789abcd"
UNKNOWN_TOKEN = "unknown-token-0123456789abcdefghijkl"
TOKEN_CALLERS = {
    "billing-api": ["grants:register", "grants:read"],
    "maintenance": ["admin"],
}


def write_tokens(path: Path, tokens: dict[str, Any] | str, *, mtime_ns: int) -> None:
    path.write_text(tokens if isinstance(tokens, str) else json.dumps(tokens))
    # The file's version is its mtime, so set it to make every write a new version.
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "caller-tokens.json"
    write_tokens(
        path, {"billing-api": BILLING_TOKEN, "maintenance": MAINTENANCE_TOKEN}, mtime_ns=10**18
    )
    return path


@pytest.fixture
def token_settings(tokens_file: Path) -> AuthTestSettings:
    return AuthTestSettings(
        auth_mode=AuthMode.TOKEN,
        callers=callers_json(TOKEN_CALLERS),
        caller_tokens_file=tokens_file,
    )


@pytest.fixture
def secret(token_settings: AuthTestSettings) -> RotatingSecret:
    return caller_tokens_secret(token_settings, None)


@pytest.fixture
async def authenticator(token_settings: AuthTestSettings, secret: RotatingSecret) -> Authenticator:
    config = load_auth_config(token_settings)
    authenticator = Authenticator(config, tokens=CallerTokens(secret, config.callers))
    await authenticator.load()
    return authenticator


@pytest.fixture
def token_client(make_client: ClientFactory, authenticator: Authenticator) -> httpx.AsyncClient:
    return make_client(authenticator)


def unauthenticated(detail: str) -> dict[str, Any]:
    return {
        "type": PROBLEMS + "unauthenticated",
        "title": "Authentication required",
        "status": 401,
        "detail": detail,
        "instance": "/grants",
        "request_id": REQUEST_ID,
    }


NOT_BEARER = "The Authorization header must be a single `Bearer <token>`."
CHALLENGE = 'Bearer realm="grant-broker"'
INVALID_TOKEN = 'Bearer realm="grant-broker", error="invalid_token"'

TOKEN_CASES = [
    pytest.param(
        [],
        401,
        CHALLENGE,
        unauthenticated("The request has no Authorization header."),
        id="no-header",
    ),
    pytest.param(
        [("X-Forwarded-Client-Cert", xfcc("spiffe://cluster.local/ns/billing/sa/billing-api"))],
        401,
        CHALLENGE,
        unauthenticated("The request has no Authorization header."),
        id="mesh-header-ignored",
    ),
    pytest.param(
        [("Authorization", "Basic YmlsbGluZzpzZWNyZXQ=")],
        401,
        CHALLENGE,
        unauthenticated(NOT_BEARER),
        id="basic-scheme",
    ),
    pytest.param(
        [("Authorization", f"Bearer {BILLING_TOKEN}"), ("Authorization", "Bearer x")],
        401,
        CHALLENGE,
        unauthenticated(NOT_BEARER),
        id="two-headers",
    ),
    pytest.param(
        [("Authorization", f"Bearer {UNKNOWN_TOKEN}")],
        401,
        INVALID_TOKEN,
        unauthenticated("The bearer token is not valid."),
        id="unknown-token",
    ),
    pytest.param(
        [("Authorization", f"Bearer {BILLING_TOKEN[:-1]}")],
        401,
        INVALID_TOKEN,
        unauthenticated("The bearer token is not valid."),
        id="truncated-token",
    ),
    pytest.param(
        [("Authorization", f"Bearer {BILLING_TOKEN} extra")],
        401,
        INVALID_TOKEN,
        unauthenticated("The bearer token is not valid."),
        id="malformed-token",
    ),
    pytest.param(
        [("Authorization", "Bearer")],
        401,
        INVALID_TOKEN,
        unauthenticated("The bearer token is not valid."),
        id="empty-token",
    ),
    pytest.param(
        [("Authorization", f"Bearer {MAINTENANCE_TOKEN}")],
        403,
        None,
        {
            "type": PROBLEMS + "permission-denied",
            "title": "Permission denied",
            "status": 403,
            "detail": (
                "The caller maintenance lacks the permission grants:read for this operation. "
                "Ask the operators of grant-broker to grant it."
            ),
            "instance": "/grants",
            "missing_permissions": ["grants:read"],
            "request_id": REQUEST_ID,
        },
        id="admin-lacks-read",
    ),
    pytest.param(
        [("Authorization", f"Bearer {BILLING_TOKEN}")], 200, None, {"status": "ok"}, id="allowed"
    ),
    pytest.param(
        [("Authorization", f"bearer {BILLING_TOKEN}")],
        200,
        None,
        {"status": "ok"},
        id="scheme-case-insensitive",
    ),
]


@pytest.mark.parametrize(("headers", "status", "challenge", "body"), TOKEN_CASES)
async def test_token_cases(
    token_client: httpx.AsyncClient,
    headers: list[tuple[str, str]],
    status: int,
    challenge: str | None,
    body: dict[str, Any],
) -> None:
    response = await token_client.get("/grants", headers=headers)

    assert response.status_code == status
    assert response.json() == body
    assert response.headers.get("www-authenticate") == challenge


async def test_token_never_logged(token_client: httpx.AsyncClient, log_output: io.StringIO) -> None:
    await token_client.get("/grants", headers={"Authorization": f"Bearer {BILLING_TOKEN}"})
    await token_client.get("/grants", headers={"Authorization": f"Bearer {UNKNOWN_TOKEN}"})
    await token_client.get("/grants", headers={"Authorization": f"Bearer {MAINTENANCE_TOKEN}"})

    output = log_output.getvalue()
    assert "http.request" in output
    for token in (BILLING_TOKEN, UNKNOWN_TOKEN, MAINTENANCE_TOKEN):
        assert token not in output


async def test_token_principal_in_request_log(
    token_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await token_client.get("/grants", headers={"Authorization": f"Bearer {BILLING_TOKEN}"})

    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    (request_line,) = [line for line in lines if line["event"] == "http.request"]
    assert request_line["principal"] == "billing-api"


async def test_token_rotation(
    token_client: httpx.AsyncClient, secret: RotatingSecret, tokens_file: Path
) -> None:
    write_tokens(
        tokens_file,
        {"billing-api": ROTATED_TOKEN, "maintenance": MAINTENANCE_TOKEN},
        mtime_ns=10**18 + 1,
    )

    changed = await secret.refresh()
    old = await token_client.get("/grants", headers={"Authorization": f"Bearer {BILLING_TOKEN}"})
    new = await token_client.get("/grants", headers={"Authorization": f"Bearer {ROTATED_TOKEN}"})

    assert changed
    assert old.status_code == 401
    assert new.status_code == 200


async def test_token_invalid_version_ignored(
    token_client: httpx.AsyncClient,
    secret: RotatingSecret,
    tokens_file: Path,
    log_output: io.StringIO,
) -> None:
    write_tokens(
        tokens_file, {"billing-api": ROTATED_TOKEN, "stranger": UNKNOWN_TOKEN}, mtime_ns=10**18 + 1
    )

    await secret.refresh()
    first = await token_client.get("/grants", headers={"Authorization": f"Bearer {BILLING_TOKEN}"})
    second = await token_client.get("/grants", headers={"Authorization": f"Bearer {BILLING_TOKEN}"})
    rotated = await token_client.get(
        "/grants", headers={"Authorization": f"Bearer {ROTATED_TOKEN}"}
    )

    assert first.status_code == 200
    assert second.status_code == 200
    assert rotated.status_code == 401
    lines = [json.loads(line) for line in log_output.getvalue().splitlines()]
    errors = [line for line in lines if line["event"] == "auth.caller_tokens_invalid"]
    assert len(errors) == 1
    assert errors[0]["level"] == "error"
    assert errors[0]["version"] == f"file:{10**18 + 1}"
    assert errors[0]["version_in_use"] == f"file:{10**18}"
    assert "'stranger'" in errors[0]["error"]
    assert ROTATED_TOKEN not in log_output.getvalue()
    assert UNKNOWN_TOKEN not in log_output.getvalue()


async def test_token_status(authenticator: Authenticator) -> None:
    status = authenticator.status()

    assert status["mode"] == "token"
    caller_tokens = status["caller_tokens"]
    assert isinstance(caller_tokens, dict)
    assert caller_tokens["version"] == f"file:{10**18}"
    assert BILLING_TOKEN not in json.dumps(status, default=str)


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (
            {"billing-api": BILLING_TOKEN, "stranger": UNKNOWN_TOKEN},
            "GRANT_BROKER_CALLER_TOKENS has a token for 'stranger', which GRANT_BROKER_CALLERS "
            "does not list. Add the caller there or remove its token.",
        ),
        (
            {"billing-api": "short-token-0123456789"},
            "GRANT_BROKER_CALLER_TOKENS: the token of billing-api is shorter than 32 characters. "
            "Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
        ),
        (
            {"billing-api": BILLING_TOKEN + " with spaces"},
            "GRANT_BROKER_CALLER_TOKENS: the token of billing-api must be a string of letters, "
            "digits and -._~+/ (RFC 6750).",
        ),
        (
            {"billing-api": 12345678901234567890123456789012345},
            "GRANT_BROKER_CALLER_TOKENS: the token of billing-api must be a string of letters, "
            "digits and -._~+/ (RFC 6750).",
        ),
        (
            {"billing-api": BILLING_TOKEN, "maintenance": BILLING_TOKEN},
            "GRANT_BROKER_CALLER_TOKENS: billing-api and maintenance have the same token; give "
            "each caller its own.",
        ),
        ({}, "GRANT_BROKER_CALLER_TOKENS contains no tokens."),
        (
            f'{{"billing-api": "{BILLING_TOKEN}"',
            "GRANT_BROKER_CALLER_TOKENS is not valid JSON: Expecting ',' delimiter at line 1, "
            "column 55.",
        ),
        (
            f'["{BILLING_TOKEN}"]',
            "GRANT_BROKER_CALLER_TOKENS must be a JSON object keyed by principal.",
        ),
    ],
)
async def test_tokens_invalid_at_load(
    token_settings: AuthTestSettings, tokens_file: Path, tokens: Any, message: str
) -> None:
    write_tokens(tokens_file, tokens, mtime_ns=10**18 + 1)
    authenticator = Authenticator.from_settings(token_settings)

    with pytest.raises(AuthConfigError) as raised:
        await authenticator.load()

    assert str(raised.value) == message
    assert BILLING_TOKEN not in str(raised.value)


async def test_tokens_file_missing(token_settings: AuthTestSettings, tmp_path: Path) -> None:
    settings = replace(token_settings, caller_tokens_file=tmp_path / "absent.json")
    authenticator = Authenticator.from_settings(settings)

    with pytest.raises(SecretLoadError, match="GRANT_BROKER_CALLER_TOKENS could not be loaded"):
        await authenticator.load()


def test_tokens_not_configured(token_settings: AuthTestSettings) -> None:
    settings = replace(token_settings, caller_tokens_file=None)

    with pytest.raises(
        SecretLoadError, match="Set exactly one of GRANT_BROKER_CALLER_TOKENS_SECRET"
    ):
        Authenticator.from_settings(settings)


def test_tokens_plain_value_rejected_in_production(token_settings: AuthTestSettings) -> None:
    settings = replace(
        token_settings,
        caller_tokens_file=None,
        caller_tokens=SecretStr(json.dumps({"billing-api": BILLING_TOKEN})),
    )

    with pytest.raises(SecretLoadError) as raised:
        Authenticator.from_settings(settings)

    assert "plain value not allowed outside development" in str(raised.value)
    assert BILLING_TOKEN not in str(raised.value)


async def test_tokens_plain_value_in_development(
    token_settings: AuthTestSettings, make_client: ClientFactory
) -> None:
    settings = replace(
        token_settings,
        is_development=True,
        caller_tokens_file=None,
        caller_tokens=SecretStr(json.dumps({"billing-api": BILLING_TOKEN})),
    )
    authenticator = Authenticator.from_settings(settings)
    await authenticator.load()
    client = make_client(authenticator)

    response = await client.get("/grants", headers={"Authorization": f"Bearer {BILLING_TOKEN}"})

    assert response.status_code == 200
