"""The live status endpoint."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.auth import AUTH_PROBLEM_RESPONSES, Permission, require
from app.core.database import SessionDep
from app.core.openapi import problem_responses
from app.grants.router import UserIdPath
from app.grants.schemas import GrantPublic
from app.status.live import LiveChecker

router = APIRouter(prefix="/v1", tags=["grants"])


@router.get(
    "/users/{user_id}/grant/status",
    operation_id="check_user_grant_status",
    dependencies=[require(Permission.GRANTS_READ)],
    summary="Check a user's grant status, asking Nylas when the stored one is too old",
    response_model=GrantPublic,
    responses={**problem_responses(404, 422, 502, 503, 504), **AUTH_PROBLEM_RESPONSES},
)
async def check_user_grant_status(
    request: Request,
    user_id: UserIdPath,
    session: SessionDep,
    max_age: Annotated[
        float,
        Query(
            ge=0,
            le=86_400,
            description=(
                "Accept a stored status checked at most this many seconds ago; otherwise ask "
                "Nylas. `0` always asks Nylas: use it right after Nylas answered 401 for this "
                "grant."
            ),
        ),
    ] = 300,
) -> Any:
    """Return the grant with a status no older than `max_age` seconds.

    A grant Nylas no longer has is removed (with a `grant.deleted` event) and the answer is 404:
    the caller obtains fresh credentials and registers again.
    """
    checker: LiveChecker = request.app.state.live_checker
    return await checker.check(session, user_id, max_age=max_age)
