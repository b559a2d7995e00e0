"""GET /v1/nylas/webhooks: the challenge Nylas sends when a destination is (re)activated."""

import httpx
import pytest

from tests.webhooks.conftest import WEBHOOK_PATH


@pytest.mark.parametrize("challenge", ["bc609b38-c81f-47fb-a275-1d9bd61a968b", 'a b+"quoted"'])
async def test_challenge_echoed_raw(webhook_client: httpx.AsyncClient, challenge: str) -> None:
    response = await webhook_client.get(WEBHOOK_PATH, params={"challenge": challenge})

    assert response.status_code == 200
    assert response.content == challenge.encode()
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("query", [{}, {"challenge": ""}])
async def test_challenge_missing_is_422(
    webhook_client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    response = await webhook_client.get(WEBHOOK_PATH, params=query)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["invalid_params"][0]["name"] == "query.challenge"
