"""HTTP endpoints of the grants domain."""

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from sqlalchemy.engine import Row

from app.auth import AUTH_PROBLEM_RESPONSES, CallerDep, Permission, require
from app.core.config import Settings
from app.core.database import SessionDep
from app.core.errors import ProblemError, current_request_id
from app.core.openapi import problem_responses
from app.grants.errors import CredentialsRejected, GrantNotFound
from app.grants.idempotency import (
    IdempotencyStore,
    StoredResponse,
    fingerprint,
    scoped_key,
    stale_claim_after,
)
from app.grants.models import GrantStatus, Provider
from app.grants.repository import GrantLookups
from app.grants.schemas import (
    GRANT_ID_PATTERN,
    USER_ID_PATTERN,
    GrantPage,
    GrantPublic,
    GrantRegistration,
    reject_dot_segments,
)
from app.grants.service import GrantService, RegistrationOutcome
from app.nylas.client import NylasClient

router = APIRouter(prefix="/v1", tags=["grants"])

UserIdPath = Annotated[
    str,
    Path(pattern=USER_ID_PATTERN, description="The caller's id for the user."),
    AfterValidator(reject_dot_segments),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description=(
            "Makes a retried registration safe: a repeat with the same key replays the first "
            "response (with `Idempotent-Replayed: true`); the same key with a different request "
            "is rejected with 422; a repeat while the first still runs gets 409. Keys expire "
            "after a configured time (a day by default). Credentials are not part of the "
            "comparison: they are never stored in any form."
        ),
    ),
]


async def get_grant_service(
    request: Request, session: SessionDep, caller: CallerDep
) -> GrantService:
    nylas: NylasClient = request.app.state.nylas
    return GrantService(session, nylas, actor=caller.principal)


ServiceDep = Annotated[GrantService, Depends(get_grant_service)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _grant_location(request: Request, user_id: str) -> str:
    return str(request.url_for("get_user_grant", user_id=user_id).path)


def _registration_response(
    request: Request, stored: StoredResponse, *, replayed: bool
) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if stored.status == status.HTTP_201_CREATED:
        headers["Location"] = _grant_location(request, str(stored.body["user_id"]))
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


def _stored_outcome(outcome: RegistrationOutcome) -> StoredResponse:
    body: dict[str, Any] = GrantPublic.model_validate(outcome.grant).model_dump(mode="json")
    code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
    return StoredResponse(status=code, body=body)


async def _register_once(
    service: GrantService, store: IdempotencyStore, key: str, registration: GrantRegistration
) -> StoredResponse:
    try:
        stored = _stored_outcome(await service.register(registration))
    except ProblemError as exc:
        # Client errors are final for this request and are replayed. Server-side failures free
        # the key so that a retry runs the registration again, and so do rejected credentials,
        # because the key cannot tell a retry with fresh credentials from a repeat.
        if exc.status >= status.HTTP_500_INTERNAL_SERVER_ERROR or isinstance(
            exc, CredentialsRejected
        ):
            await store.release(key)
        else:
            body = exc.to_problem()
            await store.complete(key, StoredResponse(status=int(exc.status), body=body))
        raise
    except BaseException:
        await store.release(key)
        raise
    await store.complete(key, stored)
    return stored


@router.post(
    "/grants",
    operation_id="register_grant",
    dependencies=[require(Permission.GRANTS_REGISTER)],
    summary="Register a user's provider credentials and bind the resulting Nylas grant",
    status_code=status.HTTP_201_CREATED,
    response_model=GrantPublic,
    responses={
        200: {"model": GrantPublic, "description": "The user re-registered; record updated."},
        201: {"description": "New grant bound to the user; `Location` names its URL."},
        **problem_responses(409, 413, 422, 502, 503, 504),
        **AUTH_PROBLEM_RESPONSES,
    },
)
async def register_grant(
    request: Request,
    registration: GrantRegistration,
    service: ServiceDep,
    session: SessionDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Send the credentials to Nylas (`POST /v3/connect/custom`) and store only the grant id.

    The credentials are discarded when the request ends. A user holds one grant: registering a
    different mailbox replaces the old grant, which is then deleted at Nylas. A mailbox whose
    grant another user already holds is refused with 409.
    """
    if idempotency_key is None:
        stored = _stored_outcome(await service.register(registration))
        return _registration_response(request, stored, replayed=False)

    settings = _settings(request)
    ttl = timedelta(seconds=settings.idempotency_ttl)
    stale_after = stale_claim_after(settings.nylas_retry_budget)
    store = IdempotencyStore(session, ttl=ttl, stale_after=stale_after)
    key = scoped_key(caller.principal, idempotency_key)
    replay = await store.claim(key, fingerprint(registration))
    if replay is not None:
        return _replay(request, replay)

    stored = await _register_once(service, store, key, registration)
    return _registration_response(request, stored, replayed=False)


def _replay(request: Request, stored: StoredResponse) -> JSONResponse:
    if stored.status >= status.HTTP_400_BAD_REQUEST:
        problem = {**stored.body, "instance": request.url.path, "request_id": current_request_id()}
        response = JSONResponse(
            problem, status_code=stored.status, media_type="application/problem+json"
        )
        response.headers["Idempotent-Replayed"] = "true"
        return response
    return _registration_response(request, stored, replayed=True)


@router.get(
    "/users/{user_id}/grant",
    operation_id="get_user_grant",
    dependencies=[require(Permission.GRANTS_READ)],
    summary="Look up a user's grant",
    response_model=GrantPublic,
    responses={**problem_responses(404, 422), **AUTH_PROBLEM_RESPONSES},
)
async def get_user_grant(request: Request, user_id: UserIdPath) -> Response:
    """Return the grant the user holds, with its status as last known."""
    row = await _lookups(request).by_user(user_id)
    if row is None:
        raise GrantNotFound.for_user(user_id)
    return _grant_response(row)


@router.get(
    "/grants/{grant_id}",
    operation_id="get_grant_by_id",
    dependencies=[require(Permission.GRANTS_READ)],
    summary="Find which user holds a grant id",
    response_model=GrantPublic,
    responses={**problem_responses(404, 422), **AUTH_PROBLEM_RESPONSES},
)
async def get_grant_by_id(
    request: Request,
    grant_id: Annotated[str, Path(pattern=GRANT_ID_PATTERN, description="A Nylas grant id.")],
) -> Response:
    """Return the record holding this Nylas grant id (reverse lookup)."""
    row = await _lookups(request).by_grant_id(grant_id)
    if row is None:
        raise GrantNotFound.for_grant_id()
    return _grant_response(row)


# The lookups are the hottest routes, so they skip the ORM session and the service (they
# write nothing) and serialise the record themselves instead of through `response_model`.
def _lookups(request: Request) -> GrantLookups:
    lookups: GrantLookups = request.app.state.grant_lookups
    return lookups


def _grant_response(row: Row[Any]) -> Response:
    grant = GrantPublic.model_validate(row, from_attributes=True)
    return Response(grant.model_dump_json(), media_type="application/json")


@router.get(
    "/grants",
    operation_id="list_grants",
    dependencies=[require(Permission.GRANTS_READ)],
    summary="List grants, optionally filtered by status and provider",
    response_model=GrantPage,
    responses={**problem_responses(422), **AUTH_PROBLEM_RESPONSES},
)
async def list_grants(
    service: ServiceDep,
    grant_status: GrantStatus | None = None,
    provider: Provider | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="`next_cursor` of the previous page.")
    ] = None,
) -> GrantPage:
    """Page through grants ordered by user id (keyset pagination)."""
    rows, next_cursor = await service.list_page(
        limit=limit, cursor=cursor, grant_status=grant_status, provider=provider
    )
    items = [GrantPublic.model_validate(row) for row in rows]
    return GrantPage(items=items, next_cursor=next_cursor)


@router.delete(
    "/users/{user_id}/grant",
    operation_id="delete_user_grant",
    dependencies=[require(Permission.GRANTS_DELETE)],
    summary="Offboard a user: delete the grant at Nylas, then the record",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**problem_responses(404, 422, 502, 503, 504), **AUTH_PROBLEM_RESPONSES},
)
async def delete_user_grant(user_id: UserIdPath, service: ServiceDep) -> Response:
    """Delete the user's grant at Nylas (already gone there counts as done), then the record."""
    await service.delete_for_user(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
