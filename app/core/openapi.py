"""OpenAPI helpers: problem responses per status, and the committed schema file."""

import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.core.errors import PROBLEM_MEDIA_TYPE, Problem

OPENAPI_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"

_DESCRIPTIONS = {
    404: "Not found.",
    409: "Conflict with the current state; the detail says which.",
    413: "The body exceeds the size limit (`GRANT_BROKER_MAX_REQUEST_BODY_BYTES`).",
    422: (
        "Invalid request: for a failed validation, `invalid_params` names each field and what "
        "to fix; other 422 problems explain themselves in `detail`."
    ),
    502: (
        "Nylas failed or rejected the broker's API key; "
        "`nylas_status` and `nylas_request_id` identify the upstream failure."
    ),
    503: "Nylas is unavailable or rate limiting; retry after `Retry-After` seconds.",
    504: "Nylas did not answer in time.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document each status as an RFC 9457 problem details response."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Return the app's OpenAPI document, with the problem schema in place of FastAPI's 422."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in components["Problem"].pop("$defs", {}).items():
        components[name] = definition
    # Every validation error is rendered as problem details, not FastAPI's default shape.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = problem_responses(422)[422]
    app.openapi_schema = schema
    return schema


def render_openapi(app: FastAPI) -> str:
    return json.dumps(build_openapi(app), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    # Regenerates openapi/openapi.json from the app: `uv run python -m app.core.openapi`.
    import os

    from pydantic import SecretStr

    from app.core.config import Settings
    from app.main import create_app

    os.environ.setdefault("GRANT_BROKER_ENV", "development")
    app = create_app(Settings(nylas_api_key=SecretStr("unused-for-the-schema")))
    OPENAPI_PATH.parent.mkdir(exist_ok=True)
    OPENAPI_PATH.write_text(render_openapi(app))
    print(f"wrote {OPENAPI_PATH}")
