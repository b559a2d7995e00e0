"""Nylas v3 client: grant operations, typed errors, retries and API key refresh."""

from app.nylas.auth import ApiKeyProvider, StaticApiKey
from app.nylas.client import GrantFilters, NylasClient, create_http_client
from app.nylas.errors import (
    NylasBadRequest,
    NylasConnectionError,
    NylasError,
    NylasForbidden,
    NylasInvalidResponse,
    NylasNotFound,
    NylasRateLimited,
    NylasTimeout,
    NylasUnauthorized,
    NylasUnavailable,
)
from app.nylas.models import ConnectResult, GrantPage, NylasGrant
from app.nylas.retry import RetryPolicy

__all__ = [
    "ApiKeyProvider",
    "ConnectResult",
    "GrantFilters",
    "GrantPage",
    "NylasBadRequest",
    "NylasClient",
    "NylasConnectionError",
    "NylasError",
    "NylasForbidden",
    "NylasGrant",
    "NylasInvalidResponse",
    "NylasNotFound",
    "NylasRateLimited",
    "NylasTimeout",
    "NylasUnauthorized",
    "NylasUnavailable",
    "RetryPolicy",
    "StaticApiKey",
    "create_http_client",
]
