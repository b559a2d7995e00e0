"""The event feed endpoint."""

import re
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import AUTH_PROBLEM_RESPONSES, Permission, require
from app.core.database import SessionDep
from app.core.errors import ProblemError, UnprocessableError
from app.core.openapi import problem_responses
from app.events.models import EventType
from app.events.repository import EventRepository
from app.events.schemas import EventPage, GrantEventPublic

router = APIRouter(prefix="/v1", tags=["events"])


class CursorExpired(ProblemError):
    status = 410
    problem_type = "cursor-expired"
    title = "Cursor older than the retained events"


# Event ids are 32-bit integers in the database.
_MAX_EVENT_ID = 2**31 - 1


def _parse_cursor(after: str) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", after) or int(after) > _MAX_EVENT_ID:
        raise UnprocessableError(
            "Invalid cursor: pass `0` to start, then the `next_cursor` of the previous page.",
            invalid_params=[{"name": "query.after", "reason": "not a cursor of this feed"}],
        )
    return int(after)


@router.get(
    "/events",
    operation_id="list_events",
    dependencies=[require(Permission.EVENTS_READ)],
    summary="Read the grant event feed after a cursor",
    response_model=EventPage,
    responses={**problem_responses(410, 422), **AUTH_PROBLEM_RESPONSES},
)
async def list_events(
    session: SessionDep,
    after: Annotated[
        str,
        Query(
            max_length=10,
            pattern=r"^[0-9]{1,10}$",
            description="`0` to start, else the last `next_cursor`.",
        ),
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    event_type: Annotated[
        list[EventType] | None,
        Query(alias="type", description="Only these event types; repeat to give several."),
    ] = None,
) -> EventPage:
    """Return events in the order they were committed, each exactly once per cursor walk.

    A consumer keeps its own cursor. Events older than the retention period are removed; a
    cursor that points before the oldest retained event gets 410, because events were missed.
    """
    after_id = _parse_cursor(after)
    events = EventRepository(session)
    oldest = await events.oldest_id()
    # NOTE: ids can have gaps (a rolled-back insert still uses a sequence value), so a cursor
    # inside a gap just before the oldest retained event is also reported as expired.
    if after_id > 0 and oldest is not None and after_id < oldest - 1:
        raise CursorExpired(
            "Events after this cursor were removed by retention. Resynchronise from the grants "
            "listing, then continue from cursor 0."
        )

    rows = await events.list_after(after_id=after_id, limit=limit, types=event_type or ())
    items = [GrantEventPublic.model_validate(row) for row in rows]
    next_cursor = str(items[-1].id) if items else str(after_id)
    return EventPage(items=items, next_cursor=next_cursor)
