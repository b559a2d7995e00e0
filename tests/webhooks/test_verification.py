"""POST /v1/nylas/webhooks: signature, size limit and content encoding, before anything applies."""

import base64
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.grants.models import GrantStatus
from app.webhooks.body import MAX_BODY_BYTES
from app.webhooks.stats import WebhookStats
from tests.webhooks.conftest import (
    EXPIRED_BODY,
    EXPIRED_SIGNATURE,
    WEBHOOK_PATH,
    deliver,
    delivery_ids,
    grant_events,
    gzipped,
    seed_grant,
    sign,
    stored_grant,
    webhook_secrets,
)

CHUNK = b" " * 65_536


async def _assert_nothing_changed(app: FastAPI) -> None:
    grant = await stored_grant(app, "grant-1")
    assert grant is not None
    assert grant.grant_status == GrantStatus.VALID
    assert await grant_events(app) == []
    assert await delivery_ids(app) == []


async def test_case_delivery_accepted(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")

    response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    assert response.status_code == 200
    assert response.json() == {"status": "applied"}


@pytest.mark.parametrize(
    ("case", "signature"),
    [
        ("base64 digest", base64.b64encode(bytes.fromhex(EXPIRED_SIGNATURE)).decode()),
        ("upper-case hex", EXPIRED_SIGNATURE.upper()),
        ("other secret", sign(EXPIRED_BODY, "not-the-configured-secret")),
        ("empty", ""),
    ],
)
async def test_bad_signature_is_401(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, case: str, signature: str
) -> None:
    await seed_grant(webhook_app, "grant-1")

    response = await deliver(webhook_client, EXPIRED_BODY, signature=signature)

    assert response.status_code == 401, case
    assert response.headers["content-type"] == "application/problem+json"
    await _assert_nothing_changed(webhook_app)


async def test_missing_signature_is_401(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, stats: WebhookStats
) -> None:
    await seed_grant(webhook_app, "grant-1")

    response = await webhook_client.post(WEBHOOK_PATH, content=EXPIRED_BODY)

    assert response.status_code == 401
    assert stats.rejected == 1
    await _assert_nothing_changed(webhook_app)


async def test_reserialised_body_is_401(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")
    reserialised = json.dumps(json.loads(EXPIRED_BODY), separators=(", ", ": ")).encode()

    response = await deliver(webhook_client, reserialised, signature=EXPIRED_SIGNATURE)

    assert response.status_code == 401
    await _assert_nothing_changed(webhook_app)


async def test_both_rotation_secrets_accepted(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    secrets = webhook_secrets(webhook_app.state.settings, "new-secret-7f3a\nold-secret-91bc")
    await secrets.load()
    webhook_app.state.webhook_secrets = secrets
    first = b'{"id":"evt-new","type":"message.created","time":1,"data":{"object":{}}}'
    second = b'{"id":"evt-old","type":"message.created","time":1,"data":{"object":{}}}'

    signed_new = await deliver(webhook_client, first, secret="new-secret-7f3a")
    signed_old = await deliver(webhook_client, second, secret="old-secret-91bc")
    signed_other = await deliver(webhook_client, second, secret="third-secret-0000")

    assert signed_new.status_code == 200
    assert signed_old.status_code == 200
    assert signed_other.status_code == 401


async def test_secret_not_configured_is_503(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    webhook_app.state.webhook_secrets = None
    await seed_grant(webhook_app, "grant-1")

    response = await deliver(webhook_client, EXPIRED_BODY, signature=EXPIRED_SIGNATURE)

    assert response.status_code == 503
    assert response.json()["title"] == "Webhook secret not configured"
    await _assert_nothing_changed(webhook_app)


async def test_gzip_delivery_verified_over_gzip_bytes(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")
    compressed = gzipped(EXPIRED_BODY)

    response = await deliver(webhook_client, compressed, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 200
    grant = await stored_grant(webhook_app, "grant-1")
    assert grant is not None
    assert grant.grant_status == GrantStatus.INVALID


async def test_gzip_signed_over_plain_bytes_is_401(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    await seed_grant(webhook_app, "grant-1")

    response = await deliver(
        webhook_client,
        gzipped(EXPIRED_BODY),
        signature=EXPIRED_SIGNATURE,
        headers={"Content-Encoding": "gzip"},
    )

    assert response.status_code == 401
    await _assert_nothing_changed(webhook_app)


async def test_gzip_bomb_is_413(webhook_app: FastAPI, webhook_client: httpx.AsyncClient) -> None:
    bomb = gzipped(b" " * (4 * MAX_BODY_BYTES))

    response = await deliver(webhook_client, bomb, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_unsupported_encoding_is_415(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient
) -> None:
    response = await deliver(webhook_client, EXPIRED_BODY, headers={"Content-Encoding": "br"})

    assert response.status_code == 415


class CountingBody:
    """A request body of `total` bytes that counts how many bytes the server pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += len(CHUNK)
            yield CHUNK


async def test_oversize_stream_stops_early(
    webhook_client: httpx.AsyncClient, stats: WebhookStats
) -> None:
    body = CountingBody(16 * MAX_BODY_BYTES)

    response = await webhook_client.post(
        WEBHOOK_PATH, content=body, headers={"X-Nylas-Signature": "0" * 64}
    )

    assert response.status_code == 413
    assert body.sent <= MAX_BODY_BYTES + len(CHUNK)
    assert stats.invalid == 1


async def test_oversize_content_length_not_read(
    webhook_client: httpx.AsyncClient,
) -> None:
    body = CountingBody(2 * MAX_BODY_BYTES)

    response = await webhook_client.post(
        WEBHOOK_PATH,
        content=body,
        headers={"Content-Length": str(body.total), "X-Nylas-Signature": "0" * 64},
    )

    assert response.status_code == 413
    assert body.sent == 0


async def test_body_at_limit_is_read(webhook_client: httpx.AsyncClient) -> None:
    # Valid JSON padded to exactly the limit, so only the envelope check can reject it.
    core = b'{"id":"evt-pad","type":"message.created","time":1}'
    body = core[:-1] + b" " * (MAX_BODY_BYTES - len(core)) + b"}"

    response = await deliver(webhook_client, body)

    assert len(body) == MAX_BODY_BYTES
    assert response.status_code == 200


async def test_signed_invalid_json_is_400(webhook_client: httpx.AsyncClient) -> None:
    response = await deliver(webhook_client, b'{"id": "evt-1", "type": ')

    assert response.status_code == 400
    assert response.json()["detail"] == "The body is not valid JSON."


async def test_signed_grant_without_id_is_400(
    webhook_client: httpx.AsyncClient, stats: WebhookStats
) -> None:
    body = b'{"id":"evt-9","type":"grant.expired","time":1739223251,"data":{"object":{}}}'

    response = await deliver(webhook_client, body)

    assert response.status_code == 400
    assert "data.object.grant_id" in response.json()["detail"]
    assert stats.invalid == 1
