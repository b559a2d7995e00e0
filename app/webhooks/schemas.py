"""Response body of the webhook endpoint."""

from pydantic import BaseModel, Field

from app.webhooks.service import WebhookOutcome


class WebhookAck(BaseModel):
    """Acknowledgement of a delivery that Nylas must not send again."""

    status: WebhookOutcome = Field(
        description=(
            "applied: recorded, with any status change. duplicate: already recorded. "
            "unknown_grant: no user holds the grant. ignored: another type, or an update "
            "that changes no status."
        )
    )
