"""The client's requests checked against Nylas's published OpenAPI 3.1 file.

The file is not part of the project: set NYLAS_OPENAPI_PATH to a copy of it
(origin https://developer.nylas.com/_spec-files/nylas-api.yaml).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from .fakes import ClientFactory, ScriptedUpstream, grant_json, request_json, respond

CONNECT_REPLY = respond(201, {"request_id": "r", "data": grant_json()})

CONNECT_SETTINGS: dict[str, dict[str, object]] = {
    "google": {"refresh_token": SecretStr("rt"), "credential_id": "cred-1"},
    "microsoft": {"refresh_token": SecretStr("rt")},
    "imap": {
        "imap_username": "u@example.net",
        "imap_password": SecretStr("pw"),
        "imap_host": "imap.example.net",
        "imap_port": 993,
        "smtp_host": "smtp.example.net",
        "smtp_port": 465,
        "smtp_username": "u@example.net",
        "smtp_password": SecretStr("pw2"),
    },
    "icloud": {"username": "u@icloud.com", "password": SecretStr("app-pw")},
    "ews": {
        "email": "u@corp.example",
        "ews_username": "CORP\\u",
        "ews_password": SecretStr("pw"),
        "ews_host": "mail.corp.example",
        "ews_port": 443,
    },
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    location = os.environ.get("NYLAS_OPENAPI_PATH")
    if not location:
        pytest.skip("NYLAS_OPENAPI_PATH is not set; point it at Nylas's OpenAPI YAML file")
    path = Path(location)
    if not path.is_file():
        pytest.skip(f"NYLAS_OPENAPI_PATH names no file: {path}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as spec_file:
        spec: dict[str, Any] = yaml.load(spec_file, Loader=loader)  # noqa: S506 - a safe loader
    return spec


def connect_variants(openapi: dict[str, Any]) -> list[dict[str, Any]]:
    operation = openapi["paths"]["/v3/connect/custom"]["post"]
    variants: list[dict[str, Any]] = operation["requestBody"]["content"]["application/json"][
        "schema"
    ]["oneOf"]
    return variants


@pytest.mark.parametrize("provider", list(CONNECT_SETTINGS))
async def test_connect_body_in_spec(
    make_client: ClientFactory, openapi: dict[str, Any], provider: str
) -> None:
    upstream = ScriptedUpstream([CONNECT_REPLY])
    client = make_client(upstream)

    await client.connect_custom(
        provider=provider, settings=CONNECT_SETTINGS[provider], scope=["s"], state="st"
    )

    body = request_json(upstream.requests[0])
    matching = [
        variant["title"]
        for variant in connect_variants(openapi)
        if Draft202012Validator(variant).is_valid(body)
    ]
    assert matching, f"the {provider} body matches no request variant of the spec"


async def test_list_query_in_spec(make_client: ClientFactory, openapi: dict[str, Any]) -> None:
    upstream = ScriptedUpstream([respond(200, {"data": [], "limit": 10, "offset": 0})])
    client = make_client(upstream)

    await client.list_grants(
        limit=10,
        offset=0,
        grant_status="invalid",
        provider="google",
        email="a@example.com",
        since=1,
        before=2,
        ip="10.0.0.1",
        account_id="a",
        workspace_id="w",
        sort_by="updated_at",
        order_by="asc",
    )

    parameters = openapi["paths"]["/v3/grants"]["get"]["parameters"]
    known = {parameter["name"] for parameter in parameters if parameter["in"] == "query"}
    sent = set(upstream.requests[0].url.params.keys())
    assert sent <= known, f"parameters missing from the spec: {sorted(sent - known)}"
