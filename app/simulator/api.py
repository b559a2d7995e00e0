"""The simulated Nylas routes: `POST /v3/connect/custom` and the grant routes.

Each request passes through the same steps, in this order:

1. count and record the request (secrets replaced by placeholders);
2. apply an injected fault, which may replace the whole response;
3. check the API key (401);
4. apply the application's rate limit for the API group (429);
5. run the operation.

Every JSON response the simulator builds carries `request_id` in the body and an `X-Request-Id`
header. The plain-text 404 for unknown `/v3` paths carries only the header, and responses of
injected faults carry exactly what the fault specifies.
"""

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.simulator.errors import (
    INVALID_REQUEST,
    RATE_LIMITED,
    UNAUTHORIZED,
    NylasApiError,
    grant_not_found,
    invalid_request,
)
from app.simulator.grants import Authentication, GrantNotFoundError, GrantRecord
from app.simulator.providers import DEFAULT_SCOPES, GOOGLE_REQUIRED_SCOPES
from app.simulator.ratelimit import AUTHENTICATION_API, GRANTS_API
from app.simulator.state import SimulatorState
from app.simulator.validation import (
    ConnectRequest,
    parse_connect_body,
    parse_list_query,
    parse_update_body,
)

log = structlog.get_logger(__name__)

# Marks a request body that is not valid JSON. The handlers reject it with 400
# "error parsing request body".
_UNPARSEABLE = object()


@dataclass(frozen=True)
class NylasCall:
    """One request to a Nylas route, with its parsed JSON body and the request id it gets."""

    request: Request
    payload: object
    request_id: str


Reply = tuple[int, dict[str, object]]
Handler = Callable[[SimulatorState, NylasCall], Reply]


def nylas_routes(state: SimulatorState) -> list[Route]:
    grant_operations = {
        "GET": ("get_grant", get_grant),
        "PATCH": ("update_grant", update_grant),
        "DELETE": ("delete_grant", delete_grant),
    }
    return [
        Route(
            "/v3/connect/custom",
            _endpoint(state, {"POST": ("connect_custom", connect_custom)}),
            methods=["POST"],
        ),
        Route(
            "/v3/grants", _endpoint(state, {"GET": ("list_grants", list_grants)}), methods=["GET"]
        ),
        Route(
            "/v3/grants/{grant_id}",
            _endpoint(state, grant_operations),
            methods=["GET", "PATCH", "DELETE"],
        ),
    ]


def connect_custom(state: SimulatorState, call: NylasCall) -> Reply:
    """Create the mailbox's grant, or re-authenticate the one it already has."""
    connect = parse_connect_body(call.payload)
    if connect.provider not in state.connectors:
        raise invalid_request(
            f"no connector is configured for provider {connect.provider}; create one first"
        )

    email = state.credentials.resolve_mailbox(connect)
    login = Authentication(
        provider=connect.provider,
        email=email,
        scope=_granted_scope(connect),
        state=connect.state,
        settings=connect.settings.public,
        ip=call.request.client.host if call.request.client else None,
        user_agent=call.request.headers.get("user-agent"),
    )
    grant, created = state.grants.authenticate(login, state.now())

    event = "simulator.grant.created" if created else "simulator.grant.reauthenticated"
    log.info(event, grant_id=grant.id, provider=grant.provider, nylas_request_id=call.request_id)
    return 201, {"data": grant.to_json()}


def list_grants(state: SimulatorState, call: NylasCall) -> Reply:
    query = parse_list_query(dict(call.request.query_params))
    page = state.grants.query(query)
    return 200, {
        "data": [grant.to_json() for grant in page],
        "limit": query.limit,
        "offset": query.offset,
    }


def get_grant(state: SimulatorState, call: NylasCall) -> Reply:
    return 200, {"data": _find_grant(state, call).to_json()}


def update_grant(state: SimulatorState, call: NylasCall) -> Reply:
    """Replace the grant's `settings` and/or `scope`; PATCH is the only update verb Nylas has."""
    grant = _find_grant(state, call)
    update = parse_update_body(grant.provider, call.payload)
    if update.settings is not None:
        state.credentials.check_not_revoked(grant.provider, update.settings)

    settings = update.settings.public if update.settings is not None else None
    grant = state.grants.update(grant.id, settings=settings, scope=update.scope, now=state.now())
    return 200, {"data": grant.to_json()}


def delete_grant(state: SimulatorState, call: NylasCall) -> Reply:
    """Delete the grant for good: its mailbox gets a new grant id if it authenticates again."""
    try:
        grant = state.grants.delete(call.request.path_params["grant_id"])
    except GrantNotFoundError:
        raise grant_not_found() from None

    log.info("simulator.grant.deleted", grant_id=grant.id, nylas_request_id=call.request_id)
    return 200, {}


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Render routing errors: Nylas's plain-text 404 for unknown `/v3` paths, JSON otherwise."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    request_id = str(uuid.uuid4())
    headers = {"X-Request-Id": request_id}

    if status == 404 and request.url.path.startswith("/v3/"):
        # Nylas's gateway responds to unknown routes with a bare text body, not the JSON envelope.
        message = f"Cannot {request.method} {request.url.path}"
        return PlainTextResponse(message, status_code=404, headers=headers)
    if status == 405 and isinstance(exc, HTTPException):
        allowed = (exc.headers or {}).get("Allow", "")
        error = NylasApiError(
            405, INVALID_REQUEST, f"{request.method} is not allowed here; allowed: {allowed}"
        )
        return JSONResponse(
            error.envelope(request_id), status_code=405, headers={**headers, "Allow": allowed}
        )
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal Server Error"
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def _endpoint(
    state: SimulatorState, operations: Mapping[str, tuple[str, Handler]]
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        # Starlette also routes HEAD to GET routes.
        method = "GET" if request.method == "HEAD" else request.method
        operation, handler = operations[method]
        return await _serve(state, operation, handler, request)

    return endpoint


async def _serve(
    state: SimulatorState, operation: str, handler: Handler, request: Request
) -> Response:
    request_id = str(uuid.uuid4())
    payload = await _read_json(request)
    state.recorder.record(
        operation,
        method=request.method,
        path=request.url.path,
        query=dict(request.query_params),
        body=None if payload is _UNPARSEABLE else payload,
        request_id=request_id,
    )

    fault = state.faults.take(operation)
    if fault is not None and fault.replaces_response:
        log.info(
            "simulator.fault.applied", operation=operation, status=fault.status, reset=fault.reset
        )
        await fault.delay()
        return fault.response(request_id)

    response = _run(state, operation, handler, NylasCall(request, payload, request_id))
    if fault is not None:
        # A latency-only fault: the request has taken effect, only its response is late.
        log.info("simulator.fault.applied", operation=operation, latency=fault.latency)
        await fault.delay()
    return response


def _run(state: SimulatorState, operation: str, handler: Handler, call: NylasCall) -> Response:
    try:
        _authenticate(state, call.request)
        _apply_rate_limit(state, operation)
        status, payload = handler(state, call)
    except NylasApiError as error:
        log.info(
            "simulator.request.rejected",
            operation=operation,
            status=error.status,
            error_type=error.error_type,
            nylas_request_id=call.request_id,
        )
        return _json_response(error.status, error.envelope(call.request_id), call.request_id)
    return _json_response(status, {"request_id": call.request_id, **payload}, call.request_id)


def _authenticate(state: SimulatorState, request: Request) -> None:
    scheme, _, api_key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not state.accepts_api_key(api_key.strip()):
        raise NylasApiError(401, UNAUTHORIZED, "Unauthorized: the API key is missing or not valid")


def _apply_rate_limit(state: SimulatorState, operation: str) -> None:
    group = AUTHENTICATION_API if operation == "connect_custom" else GRANTS_API
    if not state.limiters[group].try_acquire():
        raise NylasApiError(429, RATE_LIMITED, "Too many requests, please try again shortly.")


def _granted_scope(connect: ConnectRequest) -> tuple[str, ...]:
    scope = connect.scope if connect.scope is not None else DEFAULT_SCOPES[connect.provider]
    if connect.provider == "google" and not set(GOOGLE_REQUIRED_SCOPES) <= set(scope):
        # Google refuses to refresh a token that lacks the OpenID profile scopes.
        raise invalid_request("Invalid or revoked refresh token")
    return scope


def _find_grant(state: SimulatorState, call: NylasCall) -> GrantRecord:
    try:
        return state.grants.get(call.request.path_params["grant_id"])
    except GrantNotFoundError:
        raise grant_not_found() from None


async def _read_json(request: Request) -> object:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _UNPARSEABLE


def _json_response(status: int, content: dict[str, object], request_id: str) -> JSONResponse:
    return JSONResponse(content, status_code=status, headers={"X-Request-Id": request_id})
