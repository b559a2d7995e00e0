"""The Nylas webhook endpoint: the challenge handshake and signed grant notifications.

Nylas calls this endpoint directly, not through the service mesh, so it carries no caller
identity: every POST is authenticated by its `X-Nylas-Signature` alone, and nothing in a
delivery is read before the signature over the raw bytes has been verified.
"""

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from app.core.database import SessionDep
from app.core.openapi import problem_responses
from app.webhooks.body import decode_body, read_body
from app.webhooks.envelope import WebhookEnvelope, parse_envelope
from app.webhooks.errors import (
    InvalidDelivery,
    PayloadTooLarge,
    SignatureInvalid,
    UnsupportedEncoding,
    WebhookSecretNotConfigured,
)
from app.webhooks.schemas import WebhookAck
from app.webhooks.secrets import WebhookSecrets
from app.webhooks.service import WebhookOutcome, WebhookService
from app.webhooks.signature import SIGNATURE_HEADER, verify_signature
from app.webhooks.stats import WebhookStats

# The path Nylas delivers to; the body size limit middleware leaves it to this router.
WEBHOOK_PATH = "/v1/nylas/webhooks"
router = APIRouter(tags=["webhooks"])
log = structlog.get_logger(__name__)


@router.get(
    WEBHOOK_PATH,
    operation_id="answer_nylas_webhook_challenge",
    summary="Answer Nylas's challenge when a webhook destination is created or re-activated",
    response_class=PlainTextResponse,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        **problem_responses(422),
    },
)
async def answer_challenge(
    challenge: Annotated[
        str, Query(min_length=1, description="The value Nylas expects back as the whole body.")
    ],
) -> PlainTextResponse:
    """Return the `challenge` query value unchanged as a plain-text body, as Nylas requires."""
    return PlainTextResponse(challenge, headers={"X-Content-Type-Options": "nosniff"})


# The body is read raw, so FastAPI cannot describe it or the signature header by itself.
_POST_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "Lower-case hex HMAC-SHA256 of the raw body, keyed with the secret.",
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        }
    ],
    "requestBody": {
        "required": True,
        "description": (
            "The JSON notification envelope, or its gzip bytes with Content-Encoding: gzip."
        ),
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


@router.post(
    WEBHOOK_PATH,
    operation_id="receive_nylas_webhook",
    summary="Receive a signed Nylas notification about a grant",
    response_model=WebhookAck,
    responses=problem_responses(400, 401, 413, 415, 503),
    openapi_extra=_POST_OPENAPI,
)
async def receive_notification(request: Request, session: SessionDep) -> WebhookAck:
    """Verify the signature over the raw body, then apply the notification once.

    A redelivered notification (same envelope `id`) is acknowledged without effect, and so are
    notifications of other types and about grants no user holds. 503 means nothing was
    recorded and Nylas should redeliver.
    """
    stats: WebhookStats = request.app.state.webhook_stats
    stats.received += 1
    secrets: WebhookSecrets | None = getattr(request.app.state, "webhook_secrets", None)
    if secrets is None:
        log.error(
            "webhook.rejected",
            reason="secret not configured",
            hint=(
                "set GRANT_BROKER_NYLAS_WEBHOOK_SECRET_SECRET or "
                "GRANT_BROKER_NYLAS_WEBHOOK_SECRET_FILE and restart"
            ),
        )
        # The setting names stay in the log: this endpoint is reachable from outside the mesh.
        raise WebhookSecretNotConfigured(
            "The service has no webhook signing secret yet. Redeliveries succeed once it has."
        )

    envelope = await _verified_envelope(request, secrets, stats)
    log.info(
        "webhook.received",
        envelope_id=envelope.id,
        type=envelope.type,
        grant_id=envelope.grant_id,
        delivery_attempt=envelope.webhook_delivery_attempt,
    )

    service = WebhookService(
        session,
        nylas=request.app.state.nylas,
        guard=request.app.state.mass_invalidation_guard,
        stats=stats,
    )
    outcome = await _handle(service, envelope, stats)
    return WebhookAck(status=outcome)


async def _verified_envelope(
    request: Request, secrets: WebhookSecrets, stats: WebhookStats
) -> WebhookEnvelope:
    """Read, verify, decompress and parse the delivery, in that order."""
    try:
        raw = await read_body(request)
    except (PayloadTooLarge, InvalidDelivery) as exc:
        _count_invalid(stats, exc)
        raise

    if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER), secrets.keys()):
        stats.rejected += 1
        # Neither the body nor the signature is logged, and unverified ids are not trusted.
        log.warning(
            "webhook.rejected",
            reason="signature invalid",
            signature_present=SIGNATURE_HEADER in request.headers,
            body_bytes=len(raw),
        )
        raise SignatureInvalid(
            f"The {SIGNATURE_HEADER} header is missing or is not the hex HMAC-SHA256 of the "
            "body under a configured webhook secret."
        )

    try:
        payload = decode_body(raw, request.headers.get("content-encoding"))
        return parse_envelope(payload)
    except (PayloadTooLarge, InvalidDelivery, UnsupportedEncoding) as exc:
        _count_invalid(stats, exc)
        raise


async def _handle(
    service: WebhookService, envelope: WebhookEnvelope, stats: WebhookStats
) -> WebhookOutcome:
    try:
        return await service.handle(envelope)
    except InvalidDelivery as exc:
        _count_invalid(stats, exc, envelope)
        raise


def _count_invalid(
    stats: WebhookStats,
    exc: PayloadTooLarge | InvalidDelivery | UnsupportedEncoding,
    envelope: WebhookEnvelope | None = None,
) -> None:
    stats.invalid += 1
    log.warning(
        "webhook.rejected",
        reason=exc.title,
        detail=exc.detail,
        envelope_id=envelope.id if envelope else None,
        type=envelope.type if envelope else None,
        grant_id=envelope.grant_id if envelope else None,
    )
