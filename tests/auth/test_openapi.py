"""The OpenAPI document shows each route's security schemes and required permissions."""

from __future__ import annotations

from typing import Any

from app.auth import Authenticator
from tests.auth.conftest import AuthTestSettings, build_app


def openapi(mesh_settings: AuthTestSettings) -> dict[str, Any]:
    return build_app(Authenticator.from_settings(mesh_settings)).openapi()


def test_openapi_security_schemes(mesh_settings: AuthTestSettings) -> None:
    schemes = openapi(mesh_settings)["components"]["securitySchemes"]

    assert schemes["mesh"]["type"] == "apiKey"
    assert schemes["mesh"]["in"] == "header"
    assert schemes["mesh"]["name"] == "X-Forwarded-Client-Cert"
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "One token per caller (GRANT_BROKER_AUTH_MODE=token).",
    }


def test_openapi_route_permissions(mesh_settings: AuthTestSettings) -> None:
    paths = openapi(mesh_settings)["paths"]

    assert paths["/grants"]["get"]["security"] == [
        {"mesh": ["grants:read"]},
        {"bearer": ["grants:read"]},
    ]
    assert paths["/grants"]["delete"]["security"] == [
        {"mesh": ["grants:delete"]},
        {"bearer": ["grants:delete"]},
    ]
    assert paths["/whoami"]["get"]["security"] == [{"mesh": []}, {"bearer": []}]


def test_openapi_open_route(mesh_settings: AuthTestSettings) -> None:
    paths = openapi(mesh_settings)["paths"]

    assert "security" not in paths["/livez"]["get"]


def test_openapi_no_header_parameters(mesh_settings: AuthTestSettings) -> None:
    # The schemes document the headers; they must not also appear as operation parameters.
    operation = openapi(mesh_settings)["paths"]["/grants"]["get"]

    assert operation.get("parameters", []) == []
