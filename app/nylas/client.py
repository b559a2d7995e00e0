"""Async client for the Nylas v3 grant operations that the broker uses."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Literal, TypedDict, Unpack
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from app.nylas.auth import ApiKeyProvider, StaticApiKey
from app.nylas.calls import CallObserver, CallRunner, Clock, NylasCall, Random, Sleep
from app.nylas.models import ConnectResult, GrantPage, NylasGrant
from app.nylas.redaction import Redactor
from app.nylas.responses import json_object, parse_model, request_id_of
from app.nylas.retry import RetryPolicy

if TYPE_CHECKING:
    from app.core.config import Settings

__all__ = [
    "ApiKeyProvider",
    "GrantFilters",
    "NylasClient",
    "RetryPolicy",
    "StaticApiKey",
    "create_http_client",
]

# Nylas's maximum page size for GET /v3/grants.
MAX_PAGE_SIZE = 200

# `settings` fields of POST /v3/connect/custom that are not credentials. Every other string
# value is treated as a secret even when the caller passed a plain str.
_NON_SECRET_SETTINGS = frozenset(
    {"credential_id", "imap_host", "imap_port", "smtp_host", "smtp_port", "ews_host", "ews_port"}
)


class GrantFilters(TypedDict, total=False):
    """Filters and ordering of `GET /v3/grants`, as documented on `NylasClient.list_grants`."""

    grant_status: Literal["valid", "invalid"] | None
    provider: str | None
    email: str | None
    since: int | None
    before: int | None
    ip: str | None
    account_id: str | None
    workspace_id: str | None
    sort_by: Literal["created_at", "updated_at"] | None
    order_by: Literal["asc", "desc"] | None


# httpx keeps only 20 idle connections by default, so with more calls in flight it would close
# the extra ones after each call and open them again, each time with a TCP and TLS handshake.
NYLAS_CONNECTION_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


def create_http_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Create the HTTP client for Nylas: region base URL and short, explicit timeouts.

    Nylas ends a request after about 120 s, and its official SDKs wait 90 s. The broker's own
    timeouts are far shorter, so that a stuck call fails while its caller is still waiting.
    The caller owns the client and must close it.
    """
    timeout = httpx.Timeout(
        connect=settings.nylas_connect_timeout,
        read=settings.nylas_read_timeout,
        write=settings.nylas_read_timeout,
        pool=settings.nylas_connect_timeout,
    )
    return httpx.AsyncClient(
        base_url=settings.nylas_base_url,
        timeout=timeout,
        transport=transport,
        headers={"Accept": "application/json", "User-Agent": "grant-broker"},
        follow_redirects=False,
        limits=NYLAS_CONNECTION_LIMITS,
    )


class NylasClient:
    """Grant operations against Nylas v3, with retries, API key refresh and typed errors.

    Every method raises a `NylasError` subclass on failure (see `app.nylas.errors`).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: ApiKeyProvider,
        retry: RetryPolicy,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        random: Random = random.random,
        observer: CallObserver | None = None,
    ) -> None:
        self._runner = CallRunner(
            http,
            api_key=api_key,
            retry=retry,
            sleep=sleep,
            clock=clock,
            random=random,
            observer=observer,
        )

    async def connect_custom(
        self,
        *,
        provider: str,
        settings: Mapping[str, object],
        scope: list[str] | None = None,
        state: str | None = None,
    ) -> ConnectResult:
        """Create or re-authenticate a grant from provider credentials (`POST /v3/connect/custom`).

        `settings` values may be `SecretStr`, which are unwrapped only into the request body.
        Retrying this call is safe: Nylas keeps one grant per mailbox and application, so
        credentials posted again re-authenticate the same grant and return the same grant id.
        """
        content, secrets = _connect_body(provider, settings, scope, state)
        call = NylasCall(
            operation="connect_custom",
            method="POST",
            path="/v3/connect/custom",
            content=content,
            secrets=secrets,
            log_fields={"provider": provider},
        )
        return await self._runner.run(call, _parse_connect_result)

    async def get_grant(self, grant_id: str) -> NylasGrant:
        """Fetch one grant, raising `NylasNotFound` when it is unknown or deleted.

        Nylas counts each lookup against the application's rate limit, so do not poll this to
        detect expired grants.
        """
        call = NylasCall(
            operation="get_grant",
            method="GET",
            path=_grant_path(grant_id),
            log_fields={"grant_id": grant_id},
        )
        return await self._runner.run(call, _parse_grant)

    async def list_grants(
        self,
        *,
        limit: int = MAX_PAGE_SIZE,
        offset: int = 0,
        grant_status: Literal["valid", "invalid"] | None = None,
        provider: str | None = None,
        email: str | None = None,
        since: int | None = None,
        before: int | None = None,
        ip: str | None = None,
        account_id: str | None = None,
        workspace_id: str | None = None,
        sort_by: Literal["created_at", "updated_at"] | None = None,
        order_by: Literal["asc", "desc"] | None = None,
    ) -> GrantPage:
        """Fetch one page of grants (`GET /v3/grants`).

        `since` and `before` bound `created_at` in Unix seconds, and `order_by` is the sort
        direction. Filters left as None are not sent. Filtered listings can lag recent changes
        by tens of seconds.
        """
        _check_page(limit, offset)
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        filters: dict[str, str | int | None] = {
            "grant_status": grant_status,
            "provider": provider,
            "email": email,
            "since": since,
            "before": before,
            "ip": ip,
            "account_id": account_id,
            "workspace_id": workspace_id,
            "sort_by": sort_by,
            "order_by": order_by,
        }
        # Query names must stay snake_case: Nylas silently ignores camelCase ones, which
        # turns a filtered listing into an unfiltered one.
        params.update({name: value for name, value in filters.items() if value is not None})

        call = NylasCall(operation="list_grants", method="GET", path="/v3/grants", params=params)
        return await self._runner.run(call, _page_parser(limit, offset))

    async def iter_grants(
        self, *, page_size: int = MAX_PAGE_SIZE, **filters: Unpack[GrantFilters]
    ) -> AsyncIterator[NylasGrant]:
        """Yield every grant that matches `filters`, one page request at a time.

        Nylas pages by offset without a cursor, so the last page is the first one shorter
        than the limit. Grants created or deleted during the walk can be skipped or repeated.
        """
        offset = 0
        while True:
            page = await self.list_grants(limit=page_size, offset=offset, **filters)
            for grant in page.data:
                yield grant

            if len(page.data) < page_size:
                return
            offset += len(page.data)

    async def delete_grant(self, grant_id: str) -> None:
        """Delete a grant for good (`DELETE /v3/grants/{grant_id}`).

        Raises `NylasNotFound` when the grant is already gone. Nylas returns 200, and 204 is
        accepted as well.
        """
        call = NylasCall(
            operation="delete_grant",
            method="DELETE",
            path=_grant_path(grant_id),
            log_fields={"grant_id": grant_id},
        )
        await self._runner.run(call, _ignore_body)


def _connect_body(
    provider: str, settings: Mapping[str, object], scope: list[str] | None, state: str | None
) -> tuple[bytes, tuple[str, ...]]:
    """Encode the connect request body and list the credentials it contains."""
    plain_settings: dict[str, object] = {}
    secrets: list[str] = []
    for name, value in settings.items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str) and name not in _NON_SECRET_SETTINGS:
            secrets.append(value)
        plain_settings[name] = value

    body: dict[str, object] = {"provider": provider, "settings": plain_settings}
    if scope is not None:
        body["scope"] = list(scope)
    if state is not None:
        body["state"] = state
    return json.dumps(body).encode(), tuple(secrets)


def _grant_path(grant_id: str) -> str:
    if not grant_id:
        raise ValueError("grant_id must not be empty")
    # Encoded whole, so an id containing "/" or ".." cannot reach another route.
    return "/v3/grants/" + quote(grant_id, safe="")


def _check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")


def _parse_connect_result(response: httpx.Response, redactor: Redactor) -> ConnectResult:
    body = json_object("connect_custom", response, redactor)
    grant = parse_model(
        NylasGrant,
        body.get("data"),
        location="data",
        operation="connect_custom",
        response=response,
        redactor=redactor,
    )
    return ConnectResult(grant=grant, request_id=request_id_of(response, body))


def _parse_grant(response: httpx.Response, redactor: Redactor) -> NylasGrant:
    body = json_object("get_grant", response, redactor)
    return parse_model(
        NylasGrant,
        body.get("data"),
        location="data",
        operation="get_grant",
        response=response,
        redactor=redactor,
    )


def _page_parser(limit: int, offset: int) -> Callable[[httpx.Response, Redactor], GrantPage]:
    def parse(response: httpx.Response, redactor: Redactor) -> GrantPage:
        body = json_object("list_grants", response, redactor)
        # The page's own limit and offset win; the requested ones stand in when absent.
        page = {
            "data": body.get("data"),
            "limit": body.get("limit") if body.get("limit") is not None else limit,
            "offset": body.get("offset") if body.get("offset") is not None else offset,
            "request_id": request_id_of(response, body),
        }
        return parse_model(
            GrantPage,
            page,
            location="",
            operation="list_grants",
            response=response,
            redactor=redactor,
        )

    return parse


def _ignore_body(response: httpx.Response, redactor: Redactor) -> None:
    return None
