"""The control API under `/_simulator/`: the `NylasSimulator` methods over HTTP.

For the standalone server and demos. The routes need no API key and never return a secret:
API keys, refresh tokens and passwords go in, and only counts, providers and emails come out.

Routes (request bodies are JSON objects):

- `PUT /_simulator/api-keys` with `api_keys`: replace the accepted API keys.
- `POST /_simulator/credentials` with `provider`, `secret`, `email` and optional `password`:
  bind a credential to a mailbox.
- `POST /_simulator/credentials/revoke` with `provider` and `secret`: revoke a credential.
- `GET /_simulator/grants`: list the grants.
- `POST /_simulator/grants/{grant_id}/expire`: mark a grant invalid.
- `DELETE /_simulator/grants/{grant_id}`: delete a grant, as its user would at Nylas.
- `GET /_simulator/connectors`, `PUT` and `DELETE /_simulator/connectors/{provider}`: list,
  add or remove connectors.
- `GET`, `POST` and `DELETE /_simulator/faults`: list, inject or clear faults. The POST body
  has the keyword arguments of `NylasSimulator.inject_fault`; DELETE takes `?operation=`.
- `GET /_simulator/calls`: call counts per operation.
- `GET /_simulator/requests`: the redacted request record, `?operation=` to filter it.
- `POST /_simulator/reset`: forget everything and restore the initial API keys.
"""

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.simulator.faults import ALL_OPERATIONS
from app.simulator.grants import GrantNotFoundError

if TYPE_CHECKING:
    from app.simulator.simulator import NylasSimulator

ControlHandler = Callable[["NylasSimulator", Request], Awaitable[Response]]

_FAULT_FIELDS = (
    "operation",
    "status",
    "body",
    "content_type",
    "headers",
    "latency",
    "reset",
    "times",
)


class ControlRequestError(ValueError):
    """A control request with a missing or wrongly typed field."""


def control_routes(sim: "NylasSimulator") -> list[Route]:
    def route(path: str, handler: ControlHandler, method: str) -> Route:
        return Route(f"/_simulator{path}", _wrap(sim, handler), methods=[method])

    return [
        route("/api-keys", put_api_keys, "PUT"),
        route("/credentials", bind_credential, "POST"),
        route("/credentials/revoke", revoke_credential, "POST"),
        route("/grants", list_grants, "GET"),
        route("/grants/{grant_id}/expire", expire_grant, "POST"),
        route("/grants/{grant_id}", delete_grant, "DELETE"),
        route("/connectors", list_connectors, "GET"),
        route("/connectors/{provider}", add_connector, "PUT"),
        route("/connectors/{provider}", remove_connector, "DELETE"),
        route("/faults", list_faults, "GET"),
        route("/faults", inject_fault, "POST"),
        route("/faults", clear_faults, "DELETE"),
        route("/calls", read_calls, "GET"),
        route("/requests", read_requests, "GET"),
        route("/reset", reset, "POST"),
    ]


async def put_api_keys(sim: "NylasSimulator", request: Request) -> Response:
    body = await _json_object(request)
    api_keys = body.get("api_keys")
    if not isinstance(api_keys, list) or not all(isinstance(key, str) for key in api_keys):
        raise ControlRequestError("api_keys must be an array of strings")

    sim.accept_api_keys(api_keys)
    return JSONResponse({"accepted_api_keys": len(api_keys)})


async def bind_credential(sim: "NylasSimulator", request: Request) -> Response:
    body = await _json_object(request)
    provider = _required_string(body, "provider")
    email = _required_string(body, "email")

    sim.bind_credential(
        provider=provider,
        secret=_required_string(body, "secret"),
        email=email,
        password=_optional_string(body, "password"),
    )
    return JSONResponse({"provider": provider, "email": email}, status_code=201)


async def revoke_credential(sim: "NylasSimulator", request: Request) -> Response:
    body = await _json_object(request)
    provider = _required_string(body, "provider")

    sim.revoke_credential(provider=provider, secret=_required_string(body, "secret"))
    return JSONResponse({"provider": provider, "revoked": True})


async def list_grants(sim: "NylasSimulator", request: Request) -> Response:
    return JSONResponse({"data": list(sim.grants.values())})


async def expire_grant(sim: "NylasSimulator", request: Request) -> Response:
    grant_id = request.path_params["grant_id"]
    sim.expire_grant(grant_id)
    return JSONResponse({"data": sim.grants[grant_id]})


async def delete_grant(sim: "NylasSimulator", request: Request) -> Response:
    grant_id = request.path_params["grant_id"]
    sim.delete_grant(grant_id)
    return JSONResponse({"deleted": grant_id})


async def list_connectors(sim: "NylasSimulator", request: Request) -> Response:
    return JSONResponse({"data": sorted(sim.connectors)})


async def add_connector(sim: "NylasSimulator", request: Request) -> Response:
    sim.add_connector(request.path_params["provider"])
    return JSONResponse({"data": sorted(sim.connectors)})


async def remove_connector(sim: "NylasSimulator", request: Request) -> Response:
    sim.remove_connector(request.path_params["provider"])
    return JSONResponse({"data": sorted(sim.connectors)})


async def list_faults(sim: "NylasSimulator", request: Request) -> Response:
    return JSONResponse({"data": sim.pending_faults()})


async def inject_fault(sim: "NylasSimulator", request: Request) -> Response:
    body = await _json_object(request)
    unknown = sorted(set(body) - set(_FAULT_FIELDS))
    if unknown:
        raise ControlRequestError(f"unknown fault fields: {', '.join(unknown)}")

    sim.inject_fault(
        operation=_optional_string(body, "operation") or ALL_OPERATIONS,
        status=_optional_int(body, "status"),
        body=body.get("body"),
        content_type=_optional_string(body, "content_type"),
        headers=_string_map(body, "headers"),
        latency=_number(body, "latency"),
        reset=_boolean(body, "reset"),
        # A missing `times` means one call; an explicit null means until cleared.
        times=_optional_int(body, "times") if "times" in body else 1,
    )
    return JSONResponse({"data": sim.pending_faults()}, status_code=201)


async def clear_faults(sim: "NylasSimulator", request: Request) -> Response:
    sim.clear_faults(request.query_params.get("operation"))
    return JSONResponse({"data": sim.pending_faults()})


async def read_calls(sim: "NylasSimulator", request: Request) -> Response:
    return JSONResponse({"counts": sim.call_counts()})


async def read_requests(sim: "NylasSimulator", request: Request) -> Response:
    recorded = sim.recorded_requests(request.query_params.get("operation"))
    return JSONResponse({"data": [entry.to_json() for entry in recorded]})


async def reset(sim: "NylasSimulator", request: Request) -> Response:
    sim.reset()
    return JSONResponse({"reset": True})


def _wrap(
    sim: "NylasSimulator", handler: ControlHandler
) -> Callable[[Request], Awaitable[Response]]:
    """Turn bad input into 400 and unknown grants into 404, with the reason as `error`."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(sim, request)
        except GrantNotFoundError:
            return JSONResponse({"error": "grant not found"}, status_code=404)
        except ValueError as exc:
            # The simulator's own ValueError messages name fields, never values.
            return JSONResponse({"error": str(exc)}, status_code=400)

    return endpoint


async def _json_object(request: Request) -> dict[str, object]:
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ControlRequestError("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlRequestError("the request body must be a JSON object")
    return body


def _required_string(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ControlRequestError(f"{name} is required and must be a string")
    return value


def _optional_string(body: dict[str, object], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ControlRequestError(f"{name} must be a string")
    return value


def _optional_int(body: dict[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise ControlRequestError(f"{name} must be an integer")
    return value


def _number(body: dict[str, object], name: str) -> float:
    value = body.get(name, 0)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ControlRequestError(f"{name} must be a number")
    return float(value)


def _boolean(body: dict[str, object], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ControlRequestError(f"{name} must be true or false")
    return value


def _string_map(body: dict[str, object], name: str) -> dict[str, str]:
    value = body.get(name) or {}
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise ControlRequestError(f"{name} must be an object of strings")
    return {str(key): item for key, item in value.items()}
