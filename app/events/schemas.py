"""API models of the event feed."""

from pydantic import BaseModel, Field

from app.events.models import GrantEventBase


class GrantEventPublic(GrantEventBase):
    """One change to a grant. `id` orders the feed."""

    id: int


class EventPage(BaseModel):
    items: list[GrantEventPublic]
    next_cursor: str = Field(
        description=(
            "Pass as `after` to read on. Unlike a page cursor it is always present: at the end "
            "of the feed it points after the last event, so polling with it returns new events."
        )
    )
