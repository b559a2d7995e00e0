"""Log lines of the webhook endpoint: the events named, and no secret, signature or body."""

import io
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.webhooks.conftest import (
    EXPIRED_BODY,
    WEBHOOK_PATH,
    deliver,
    gzipped,
    seed_grant,
    sign,
    webhook_secrets,
)

CANARY_SECRET = "canary-webhook-secret-3f9c1e-DO-NOT-LOG"


def _lines(log_output: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_output.getvalue().splitlines() if line.strip()]


def _events(log_output: io.StringIO, name: str) -> list[dict[str, Any]]:
    return [line for line in _lines(log_output) if line.get("event") == name]


@pytest.fixture
async def canary_app(webhook_app: FastAPI) -> FastAPI:
    secrets = webhook_secrets(webhook_app.state.settings, CANARY_SECRET)
    await secrets.load()
    webhook_app.state.webhook_secrets = secrets
    return webhook_app


async def test_canary_secret_never_output(
    canary_app: FastAPI, webhook_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await seed_grant(canary_app, "grant-1")
    signature = sign(EXPIRED_BODY, CANARY_SECRET)

    responses = [
        await deliver(webhook_client, EXPIRED_BODY, secret=CANARY_SECRET),
        await deliver(webhook_client, EXPIRED_BODY, secret=CANARY_SECRET),
        await deliver(webhook_client, EXPIRED_BODY, signature=signature.upper()),
        await deliver(webhook_client, b"{not json", secret=CANARY_SECRET),
        await deliver(
            webhook_client,
            gzipped(b" " * (2 * 1024 * 1024)),
            secret=CANARY_SECRET,
            headers={"Content-Encoding": "gzip"},
        ),
    ]
    output = log_output.getvalue() + "".join(response.text for response in responses)

    assert [response.status_code for response in responses] == [200, 200, 401, 400, 413]
    assert CANARY_SECRET not in output
    assert signature not in output
    assert signature.upper() not in output
    assert "user@example.com" not in output
    assert CANARY_SECRET not in repr(canary_app.state.webhook_secrets)


async def test_delivery_events_logged_with_ids(
    webhook_app: FastAPI, webhook_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await seed_grant(webhook_app, "grant-1")

    await deliver(webhook_client, EXPIRED_BODY)
    await deliver(webhook_client, EXPIRED_BODY)

    for name in ("webhook.received", "webhook.applied", "webhook.duplicate"):
        lines = _events(log_output, name)
        assert lines, name
        assert lines[0]["envelope_id"] == "evt-1", name
        assert lines[0]["type"] == "grant.expired", name
        assert lines[0]["grant_id"] == "grant-1", name
    assert _events(log_output, "webhook.applied")[0]["changes"] == ["grant.invalidated"]


async def test_rejection_logged_without_body(
    webhook_client: httpx.AsyncClient, log_output: io.StringIO
) -> None:
    await webhook_client.post(
        WEBHOOK_PATH, content=EXPIRED_BODY, headers={"X-Nylas-Signature": "0" * 64}
    )

    rejected = _events(log_output, "webhook.rejected")
    assert len(rejected) == 1
    assert rejected[0]["reason"] == "signature invalid"
    assert rejected[0]["body_bytes"] == len(EXPIRED_BODY)
    assert "evt-1" not in log_output.getvalue()
    assert "0" * 64 not in log_output.getvalue()
