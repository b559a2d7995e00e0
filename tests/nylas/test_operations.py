from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest
from pydantic import SecretStr

from app.nylas import NylasNotFound

from .fakes import (
    API_KEY,
    ClientFactory,
    ScriptedUpstream,
    error_body,
    grant_json,
    request_json,
    respond,
)

CONNECT_RESPONSE = {
    "request_id": "5fa64c92-e840-4357-86b9-2aa364d35b88",
    "data": {
        "id": "e19f8e1a-eb1c-41c0-b6a6-d2e59daf7f47",
        "provider": "microsoft",
        "grant_status": "valid",
        "email": "user@example.com",
        "scope": ["Mail.Read", "User.Read", "offline_access"],
        "state": "abc",
        "created_at": 1617817109,
        "updated_at": 1617817109,
    },
}

# Nylas's response to POST /v3/connect/custom for an IMAP account: no `scope` in the grant.
CONNECT_IMAP_NO_SCOPE = {
    "request_id": "0d2f0c1e-6b0a-4a4e-9d43-7f1f8f3b2a11",
    "data": {
        "id": "6b3b7a8e-2f6c-4c0e-9a8d-1e2f3a4b5c6d",
        "provider": "imap",
        "grant_status": "valid",
        "email": "jordan@example.net",
        "created_at": 1764806400,
        "updated_at": 1764806400,
    },
}


def query_of(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode()))


async def test_connect_custom_returns_grant(make_client: ClientFactory) -> None:
    client = make_client(ScriptedUpstream([respond(201, CONNECT_RESPONSE)]))

    result = await client.connect_custom(
        provider="microsoft", settings={"refresh_token": SecretStr("rt-1")}, state="abc"
    )

    assert result.grant.id == "e19f8e1a-eb1c-41c0-b6a6-d2e59daf7f47"
    assert result.grant.scope == ["Mail.Read", "User.Read", "offline_access"]
    assert result.grant.state == "abc"
    assert result.request_id == "5fa64c92-e840-4357-86b9-2aa364d35b88"


async def test_connect_custom_request_shape(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(201, CONNECT_RESPONSE)])
    client = make_client(upstream)

    await client.connect_custom(
        provider="google",
        settings={"refresh_token": SecretStr("rt-1"), "credential_id": "cred-1"},
        scope=["openid"],
        state="s-1",
    )

    request = upstream.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v3/connect/custom")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request_json(request) == {
        "provider": "google",
        "settings": {"refresh_token": "rt-1", "credential_id": "cred-1"},
        "scope": ["openid"],
        "state": "s-1",
    }


async def test_connect_custom_omits_unset_fields(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(201, CONNECT_RESPONSE)])
    client = make_client(upstream)

    await client.connect_custom(
        provider="imap",
        settings={
            "imap_username": "u@example.net",
            "imap_password": SecretStr("pw"),
            "imap_port": 993,
        },
    )

    assert request_json(upstream.requests[0]) == {
        "provider": "imap",
        "settings": {"imap_username": "u@example.net", "imap_password": "pw", "imap_port": 993},
    }


async def test_connect_imap_without_scope(make_client: ClientFactory) -> None:
    client = make_client(ScriptedUpstream([respond(201, CONNECT_IMAP_NO_SCOPE)]))

    result = await client.connect_custom(
        provider="imap",
        settings={"imap_username": "jordan@example.net", "imap_password": SecretStr("pw")},
    )

    assert result.grant.id == "6b3b7a8e-2f6c-4c0e-9a8d-1e2f3a4b5c6d"
    assert result.grant.scope == []


@pytest.mark.parametrize("status", [200, 201, 202])
async def test_connect_custom_any_2xx(make_client: ClientFactory, status: int) -> None:
    client = make_client(ScriptedUpstream([respond(status, CONNECT_RESPONSE)]))

    result = await client.connect_custom(provider="google", settings={"refresh_token": "rt"})

    assert result.grant.provider == "microsoft"


async def test_connect_custom_request_id_header(make_client: ClientFactory) -> None:
    body = {"data": CONNECT_RESPONSE["data"]}
    upstream = ScriptedUpstream([respond(201, body, headers={"X-Request-Id": "hdr-1"})])
    client = make_client(upstream)

    result = await client.connect_custom(provider="google", settings={"refresh_token": "rt"})

    assert result.request_id == "hdr-1"


async def test_get_grant_returns_grant(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(200, {"request_id": "r", "data": grant_json("g-7")})])
    client = make_client(upstream)

    grant = await client.get_grant("g-7")

    assert grant.id == "g-7"
    assert grant.email == "g-7@example.com"
    assert (upstream.requests[0].method, upstream.requests[0].url.path) == ("GET", "/v3/grants/g-7")


async def test_get_grant_escapes_id(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(200, {"data": grant_json("x")})])
    client = make_client(upstream)

    await client.get_grant("../connect/custom?x=1")

    assert upstream.requests[0].url.raw_path == b"/v3/grants/..%2Fconnect%2Fcustom%3Fx%3D1"


async def test_get_grant_empty_id(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(200, {"data": grant_json()})])
    client = make_client(upstream)

    with pytest.raises(ValueError, match="grant_id"):
        await client.get_grant("")
    assert upstream.requests == []


async def test_get_grant_not_found(make_client: ClientFactory) -> None:
    body = error_body("not_found_error", "grant not found", request_id="r-404")
    client = make_client(ScriptedUpstream([respond(404, body)]))

    with pytest.raises(NylasNotFound) as caught:
        await client.get_grant("gone")

    assert caught.value.status == 404
    assert caught.value.request_id == "r-404"


async def test_list_grants_snake_case_query(make_client: ClientFactory) -> None:
    # A client that sent ?grantStatus=invalid&sortBy=updated_at got an unfiltered listing,
    # because Nylas ignores camelCase parameters.
    upstream = ScriptedUpstream([respond(200, {"data": [], "limit": 200, "offset": 0})])
    client = make_client(upstream)

    await client.list_grants(grant_status="invalid", sort_by="updated_at")

    query = query_of(upstream.requests[0])
    assert query == {
        "grant_status": "invalid",
        "sort_by": "updated_at",
        "limit": "200",
        "offset": "0",
    }


async def test_list_grants_sends_every_filter(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(200, {"data": [], "limit": 50, "offset": 10})])
    client = make_client(upstream)

    await client.list_grants(
        limit=50,
        offset=10,
        grant_status="valid",
        provider="google",
        email="a@example.com",
        since=100,
        before=200,
        ip="10.0.0.1",
        account_id="acc",
        workspace_id="ws",
        sort_by="created_at",
        order_by="asc",
    )

    assert query_of(upstream.requests[0]) == {
        "limit": "50",
        "offset": "10",
        "grant_status": "valid",
        "provider": "google",
        "email": "a@example.com",
        "since": "100",
        "before": "200",
        "ip": "10.0.0.1",
        "account_id": "acc",
        "workspace_id": "ws",
        "sort_by": "created_at",
        "order_by": "asc",
    }


async def test_list_grants_returns_page(make_client: ClientFactory) -> None:
    body = {
        "request_id": "r-l",
        "data": [grant_json("a"), grant_json("b")],
        "limit": 2,
        "offset": 4,
    }
    client = make_client(ScriptedUpstream([respond(200, body)]))

    page = await client.list_grants(limit=2, offset=4)

    assert [grant.id for grant in page.data] == ["a", "b"]
    assert (page.limit, page.offset, page.request_id) == (2, 4, "r-l")


async def test_list_grants_page_without_limit(make_client: ClientFactory) -> None:
    client = make_client(ScriptedUpstream([respond(200, {"data": [grant_json()]})]))

    page = await client.list_grants(limit=5, offset=3)

    assert (page.limit, page.offset) == (5, 3)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (201, 0), (10, -1)])
async def test_list_grants_invalid_page(
    make_client: ClientFactory, limit: int, offset: int
) -> None:
    client = make_client(ScriptedUpstream([respond(200, {"data": []})]))

    with pytest.raises(ValueError, match=r"^(limit|offset) must"):
        await client.list_grants(limit=limit, offset=offset)


class PagedGrants:
    """Fake GET /v3/grants over a fixed list of grants, paging by limit and offset."""

    def __init__(self, count: int) -> None:
        self.grants = [grant_json(f"g-{index}") for index in range(count)]
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = query_of(request)
        self.queries.append(query)
        limit, offset = int(query["limit"]), int(query["offset"])
        body = {"data": self.grants[offset : offset + limit], "limit": limit, "offset": offset}
        return httpx.Response(200, json=body)


@pytest.mark.parametrize(
    ("count", "offsets"), [(5, ["0", "2", "4"]), (4, ["0", "2", "4"]), (0, ["0"])]
)
async def test_iter_grants_walks_pages(
    make_client: ClientFactory, count: int, offsets: list[str]
) -> None:
    upstream = PagedGrants(count)
    client = make_client(upstream)

    grants = [grant.id async for grant in client.iter_grants(page_size=2, provider="google")]

    assert grants == [f"g-{index}" for index in range(count)]
    assert [query["offset"] for query in upstream.queries] == offsets
    assert all(query["provider"] == "google" for query in upstream.queries)


@pytest.mark.parametrize(
    "reply", [respond(200, {"request_id": "r-d"}), respond(204)], ids=["200", "204"]
)
async def test_delete_grant_succeeds(make_client: ClientFactory, reply: object) -> None:
    upstream = ScriptedUpstream([reply])  # type: ignore[list-item]
    client = make_client(upstream)

    await client.delete_grant("g-9")

    assert (upstream.requests[0].method, upstream.requests[0].url.path) == (
        "DELETE",
        "/v3/grants/g-9",
    )


async def test_delete_grant_already_gone(make_client: ClientFactory) -> None:
    upstream = ScriptedUpstream([respond(404, error_body("grant.not_found", "not found"))])
    client = make_client(upstream)

    with pytest.raises(NylasNotFound):
        await client.delete_grant("g-9")
    assert len(upstream.requests) == 1
