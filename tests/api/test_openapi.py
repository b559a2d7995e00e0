"""The committed OpenAPI document matches the app, and documents errors as problem details."""

from app.core.config import Settings
from app.core.openapi import OPENAPI_PATH, render_openapi
from app.main import create_app


def test_committed_openapi_matches_app(settings: Settings) -> None:
    rendered = render_openapi(create_app(settings))

    assert OPENAPI_PATH.read_text() == rendered, (
        "openapi/openapi.json is out of date: run `uv run python -m app.core.openapi` "
        "and commit the result"
    )


def test_operation_ids_are_stable(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    operation_ids = {
        operation["operationId"]
        for path_item in schema["paths"].values()
        for operation in path_item.values()
    }

    assert {
        "register_grant",
        "get_user_grant",
        "get_grant_by_id",
        "list_grants",
        "delete_user_grant",
        "livez",
        "readyz",
    } <= operation_ids


def test_validation_errors_documented_as_problem(settings: Settings) -> None:
    schema = create_app(settings).openapi()
    response = schema["paths"]["/v1/grants"]["post"]["responses"]["422"]

    assert "application/problem+json" in response["content"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
